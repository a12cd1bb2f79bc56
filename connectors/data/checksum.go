package data

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"

	"github.com/flowgate/flowgate/connectors/schema"
)

// The checksum normal form, computed inside each database (SQLite through
// functions the sqlite connector registers):
//
//   - each value becomes text: integers and years in decimal; decimals
//     without trailing fractional zeros (NormDecimal); floats per
//     NormFloat; booleans t / f; binary as \x and lower-case hex; date
//     YYYY-MM-DD; time HH:MM:SS.ffffff, timestamp YYYY-MM-DD
//     HH:MM:SS.ffffff, timestamptz the same in UTC without offset, all cut
//     to ChecksumSpec.Digits; MySQL zero dates are NULL; bit(n) as n binary
//     digits; everything else as the database prints it as text (char
//     without trailing blanks, PostgreSQL json/jsonb as printed).
//   - text-like kinds (TextLike) are written <byte length>:<text> so no
//     value can forge a separator; NULL is n.
//   - a row is its values joined by |; its hash is md5 of that (hex), read
//     as two 60-bit integers: hex digits 1-15 and 16-30.
//   - Sum.Count counts rows; Sum.Hash is the two sums over all rows, each
//     in hex, joined by - (FormatHash). Sums commute, so row order does
//     not matter.

// TextLike reports whether values of kind are length-prefixed in the normal
// form because they may contain any character.
func TextLike(k schema.Kind) bool {
	switch k {
	case schema.Bool, schema.Int8, schema.Int16, schema.Int24, schema.Int32, schema.Int64,
		schema.Decimal, schema.Float32, schema.Float64, schema.Binary, schema.Varbinary, schema.Blob,
		schema.Date, schema.Time, schema.Timestamp, schema.TimestampTZ, schema.Year, schema.Bit:
		return false
	}
	return true
}

// RowHash is the two 60-bit halves of md5(row).
func RowHash(row []byte) (h1, h2 int64) {
	sum := md5.Sum(row)
	// First 15 hex digits = the top 60 bits of the first 8 bytes.
	a := binary.BigEndian.Uint64(sum[0:8]) >> 4
	// Hex digits 16-30: the low nibble of byte 7 and bytes 8..14 (56 bits).
	b := (uint64(sum[7]&0x0f) << 56) | (binary.BigEndian.Uint64(sum[8:16]) >> 8)
	return int64(a), int64(b)
}

// MD5Hex is md5 in lower-case hex.
func MD5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// FormatHash is Sum.Hash for the two sums.
func FormatHash(s1, s2 *big.Int) string {
	return s1.Text(16) + "-" + s2.Text(16)
}

// HashFromDecimal builds Sum.Hash from the two sums as decimal text, as SQL
// returns them; "" (SQL NULL, no rows) counts as zero.
func HashFromDecimal(s1, s2 string) (string, error) {
	var a, b big.Int
	for _, p := range []struct {
		s string
		v *big.Int
	}{{s1, &a}, {s2, &b}} {
		if p.s == "" {
			continue
		}
		if _, ok := p.v.SetString(p.s, 10); !ok {
			return "", fmt.Errorf("checksum sum %q is not an integer", p.s)
		}
	}
	return FormatHash(&a, &b), nil
}

// AddSums adds two checksums of disjoint row sets: the sum of range
// checksums is the checksum of the union.
func AddSums(a, b Sum) (Sum, error) {
	if a.Hash == "" {
		return b, nil
	}
	if b.Hash == "" {
		return a, nil
	}
	parse := func(h string) (*big.Int, *big.Int, error) {
		x, y, ok := strings.Cut(h, "-")
		p, ok1 := new(big.Int).SetString(x, 16)
		q, ok2 := new(big.Int).SetString(y, 16)
		if !ok || !ok1 || !ok2 {
			return nil, nil, fmt.Errorf("malformed checksum %q", h)
		}
		return p, q, nil
	}
	a1, a2, err := parse(a.Hash)
	if err != nil {
		return Sum{}, err
	}
	b1, b2, err := parse(b.Hash)
	if err != nil {
		return Sum{}, err
	}
	return Sum{Count: a.Count + b.Count, Hash: FormatHash(a1.Add(a1, b1), a2.Add(a2, b2))}, nil
}
