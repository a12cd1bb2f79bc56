package mysql

// Binlog cells (connectors/mysql/binlog's Go values) to the canonical text
// the batch export writes for the same column (export.go), so a value
// copied by the snapshot and the same value streamed are the same bytes:
//
//	integers                  decimal; UNSIGNED columns through binlog.Unsigned
//	tinyint(1), bit(1)        t / f
//	DECIMAL                   the digits at the column's scale
//	FLOAT / DOUBLE            shortest round-trip text (data.AppendFloat, 32 / 64 bits)
//	YEAR                      the number (0 for the zero year)
//	DATE, DATETIME            as MySQL prints them; zero dates NULL
//	TIMESTAMP                 UTC, followed by +00; the zero timestamp NULL
//	TIME                      [-]HH:MM:SS[.fraction], hours up to 838
//	CHAR, VARCHAR, TEXT       the text in UTF-8 (latin1 and other character sets converted)
//	BINARY(n)                 \x hex, padded to n bytes (the log drops trailing zero bytes)
//	VARBINARY, BLOB           \x hex
//	ENUM / SET                member name / names joined by commas, from the table definition
//	BIT(n)                    n binary digits
//	JSON                      the JSON text (MySQL's binary JSON decoded)
//	UUID, INET4, INET6        MariaDB's text forms
//	geometry                  WKT as ST_AsText prints it on MariaDB

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/mysql/binlog"
	"github.com/flowgate/flowgate/connectors/schema"
)

// arena holds the converted values of one row event; values are slices
// of it that never change once taken.
type arena struct{ b []byte }

func (a *arena) from(start int) []byte { return a.b[start:len(a.b):len(a.b)] }

// convFunc converts a non-NULL cell; a nil result is NULL (a zero date).
type convFunc func(a *arena, v any) ([]byte, error)

func badCell(want string, v any) error { return fmt.Errorf("cell %T, want %s", v, want) }

// converter returns the conversion of one column.
func (s *stream) converter(cd colDef, bc *binlog.Column) (convFunc, error) {
	if bc == nil {
		return func(*arena, any) ([]byte, error) { return nil, errors.New("no table map") }, nil
	}
	t := cd.Type
	switch t.Kind {
	case schema.Bool:
		return convBool, nil
	case schema.Int8, schema.Int16, schema.Int24, schema.Int32, schema.Int64:
		if t.Unsigned {
			code := bc.RealType
			return func(a *arena, v any) ([]byte, error) {
				n, ok := v.(int64)
				if !ok {
					return nil, badCell("int64", v)
				}
				start := len(a.b)
				a.b = strconv.AppendUint(a.b, binlog.Unsigned(n, code), 10)
				return a.from(start), nil
			}, nil
		}
		return convInt, nil
	case schema.Decimal:
		return convString, nil
	case schema.Float32:
		return func(a *arena, v any) ([]byte, error) {
			f, ok := v.(float32)
			if !ok {
				return nil, badCell("float32", v)
			}
			start := len(a.b)
			a.b = data.AppendFloat(a.b, float64(f), 32)
			return a.from(start), nil
		}, nil
	case schema.Float64:
		return func(a *arena, v any) ([]byte, error) {
			f, ok := v.(float64)
			if !ok {
				return nil, badCell("float64", v)
			}
			start := len(a.b)
			a.b = data.AppendFloat(a.b, f, 64)
			return a.from(start), nil
		}, nil
	case schema.Year:
		return func(a *arena, v any) ([]byte, error) {
			n, ok := v.(int64)
			if !ok {
				return nil, badCell("int64", v)
			}
			start := len(a.b)
			a.b = strconv.AppendInt(a.b, n, 10) // the zero year is 0, as the server sends it
			return a.from(start), nil
		}, nil
	case schema.Date, schema.Timestamp:
		return convDate(""), nil
	case schema.TimestampTZ:
		return convDate("+00"), nil
	case schema.Time:
		return convString, nil
	case schema.Char, schema.Varchar, schema.Text:
		return s.textConverter(cd.Charset)
	case schema.JSON:
		if bc.RealType == binlog.TypeJSON {
			return convBytes, nil
		}
		return s.textConverter(cd.Charset)
	case schema.Binary:
		n := t.Length
		return func(a *arena, v any) ([]byte, error) {
			b, ok := v.([]byte)
			if !ok {
				return nil, badCell("[]byte", v)
			}
			start := len(a.b)
			a.b = data.AppendHex(a.b, b)
			for i := len(b); i < n; i++ {
				a.b = append(a.b, '0', '0')
			}
			return a.from(start), nil
		}, nil
	case schema.Varbinary, schema.Blob:
		return convHex, nil
	case schema.Enum:
		vals := t.Values
		return func(a *arena, v any) ([]byte, error) {
			n, ok := v.(int64)
			if !ok {
				return nil, badCell("int64", v)
			}
			start := len(a.b)
			switch {
			case n == 0: // the empty string MySQL stores for an invalid value
			case n > 0 && int(n) <= len(vals):
				a.b = append(a.b, vals[n-1]...)
			default:
				return nil, fmt.Errorf("ENUM index %d of %d members", n, len(vals))
			}
			return a.from(start), nil
		}, nil
	case schema.Set:
		vals := t.Values
		return func(a *arena, v any) ([]byte, error) {
			mask, ok := v.(uint64)
			if !ok {
				return nil, badCell("uint64", v)
			}
			start := len(a.b)
			for i := 0; mask != 0; i++ {
				if mask&1 != 0 {
					if i >= len(vals) {
						return nil, fmt.Errorf("SET member %d of %d", i+1, len(vals))
					}
					if len(a.b) > start {
						a.b = append(a.b, ',')
					}
					a.b = append(a.b, vals[i]...)
				}
				mask >>= 1
			}
			return a.from(start), nil
		}, nil
	case schema.Bit:
		n := max(t.Length, 1)
		return func(a *arena, v any) ([]byte, error) {
			x, ok := v.(uint64)
			if !ok {
				return nil, badCell("uint64", v)
			}
			start := len(a.b)
			s := strconv.FormatUint(x, 2)
			for i := len(s); i < n; i++ {
				a.b = append(a.b, '0')
			}
			a.b = append(a.b, s...)
			return a.from(start), nil
		}, nil
	case schema.UUID:
		return func(a *arena, v any) ([]byte, error) {
			b, ok := v.([]byte)
			if !ok || len(b) > 16 {
				return nil, badCell("16 bytes", v)
			}
			var u binlog.UUID
			copy(u[:], b)
			start := len(a.b)
			a.b = append(a.b, u.String()...)
			return a.from(start), nil
		}, nil
	case schema.Geometry:
		return func(a *arena, v any) ([]byte, error) {
			b, ok := v.([]byte)
			if !ok {
				return nil, badCell("[]byte", v)
			}
			start := len(a.b)
			var err error
			if a.b, err = appendWKT(a.b, b, s.facts.mariadb); err != nil {
				return nil, err
			}
			return a.from(start), nil
		}, nil
	}
	switch strings.ToLower(t.Native) {
	case "inet4":
		return func(a *arena, v any) ([]byte, error) {
			b, ok := v.([]byte)
			if !ok || len(b) > 4 {
				return nil, badCell("4 bytes", v)
			}
			var ip [4]byte
			copy(ip[:], b)
			start := len(a.b)
			a.b = netip.AddrFrom4(ip).AppendTo(a.b)
			return a.from(start), nil
		}, nil
	case "inet6":
		return func(a *arena, v any) ([]byte, error) {
			b, ok := v.([]byte)
			if !ok || len(b) > 16 {
				return nil, badCell("16 bytes", v)
			}
			var ip [16]byte
			copy(ip[:], b)
			start := len(a.b)
			a.b = appendInet6(a.b, ip)
			return a.from(start), nil
		}, nil
	}
	return nil, fmt.Errorf("type %s (%s) cannot be streamed", t.Native, t.Kind)
}

func convBool(a *arena, v any) ([]byte, error) {
	var set bool
	switch x := v.(type) {
	case int64:
		set = x != 0
	case uint64:
		set = x != 0
	default:
		return nil, badCell("int64 or uint64", v)
	}
	start := len(a.b)
	if set {
		a.b = append(a.b, 't')
	} else {
		a.b = append(a.b, 'f')
	}
	return a.from(start), nil
}

func convInt(a *arena, v any) ([]byte, error) {
	n, ok := v.(int64)
	if !ok {
		return nil, badCell("int64", v)
	}
	start := len(a.b)
	a.b = strconv.AppendInt(a.b, n, 10)
	return a.from(start), nil
}

func convString(a *arena, v any) ([]byte, error) {
	s, ok := v.(string)
	if !ok {
		return nil, badCell("string", v)
	}
	start := len(a.b)
	a.b = append(a.b, s...)
	return a.from(start), nil
}

func convBytes(_ *arena, v any) ([]byte, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, badCell("[]byte", v)
	}
	return b, nil
}

func convHex(a *arena, v any) ([]byte, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, badCell("[]byte", v)
	}
	start := len(a.b)
	a.b = data.AppendHex(a.b, b)
	return a.from(start), nil
}

// convDate passes dates through and makes zero ones NULL, as the export
// does by default.
func convDate(suffix string) convFunc {
	return func(a *arena, v any) ([]byte, error) {
		s, ok := v.(string)
		if !ok {
			return nil, badCell("string", v)
		}
		if len(s) >= 10 && (s[0:4] == "0000" || s[5:7] == "00" || s[8:10] == "00") {
			return nil, nil
		}
		start := len(a.b)
		a.b = append(a.b, s...)
		a.b = append(a.b, suffix...)
		return a.from(start), nil
	}
}

// textConverter turns a character column's bytes into UTF-8.
func (s *stream) textConverter(charset string) (convFunc, error) {
	switch strings.ToLower(charset) {
	case "", "utf8mb4", "utf8mb3", "utf8", "ascii":
		return convBytes, nil
	case "latin1":
		return func(a *arena, v any) ([]byte, error) {
			b, ok := v.([]byte)
			if !ok {
				return nil, badCell("[]byte", v)
			}
			ascii := true
			for _, c := range b {
				if c >= 0x80 {
					ascii = false
					break
				}
			}
			if ascii {
				return b, nil
			}
			start := len(a.b)
			a.b = appendLatin1(a.b, b)
			return a.from(start), nil
		}, nil
	case "binary":
		return convHex, nil
	}
	// Other character sets: the server converts (one round trip per
	// distinct value, remembered for the stream).
	cs := strings.ToLower(charset)
	if !charsetName.MatchString(cs) {
		return nil, fmt.Errorf("character set %q", charset)
	}
	return func(a *arena, v any) ([]byte, error) {
		b, ok := v.([]byte)
		if !ok {
			return nil, badCell("[]byte", v)
		}
		out, err := s.serverConvert(cs, b)
		if err != nil {
			return nil, err
		}
		start := len(a.b)
		a.b = append(a.b, out...)
		return a.from(start), nil
	}, nil
}

// latin1High is MySQL's latin1 (Windows-1252, with its five unassigned
// bytes mapped to the C1 controls) from 0x80 to 0x9f; 0xa0 to 0xff are
// U+00A0 to U+00FF.
var latin1High = [32]rune{
	0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f,
	0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
}

func appendLatin1(dst, b []byte) []byte {
	for _, c := range b {
		switch {
		case c < 0x80:
			dst = append(dst, c)
		case c < 0xa0:
			dst = utf8.AppendRune(dst, latin1High[c-0x80])
		default:
			dst = utf8.AppendRune(dst, rune(c))
		}
	}
	return dst
}

var charsetName = regexp.MustCompile(`^[a-z0-9_]+$`)

var convCache sync.Map // charset + "\x00" + bytes -> []byte

// serverConvert asks the server to convert a value of character set cs
// to utf8mb4.
func (s *stream) serverConvert(cs string, b []byte) ([]byte, error) {
	key := cs + "\x00" + string(b)
	if v, ok := convCache.Load(key); ok {
		return v.([]byte), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []byte
	q := "SELECT CONVERT(_" + cs + " X'" + hex.EncodeToString(b) + "' USING utf8mb4)"
	if err := s.c.db.QueryRowContext(ctx, q).Scan(&out); err != nil {
		return nil, sqlError(fmt.Errorf("convert a %s value to utf8mb4: %w", cs, err))
	}
	if out == nil {
		out = []byte{}
	}
	if len(b) < 256 {
		convCache.Store(key, out)
	}
	return out, nil
}

// appendInet6 prints an IPv6 address as MariaDB's INET6 does: IPv4-mapped
// and IPv4-compatible addresses end in dotted quads.
func appendInet6(dst []byte, ip [16]byte) []byte {
	zero10 := true
	for _, c := range ip[:10] {
		zero10 = zero10 && c == 0
	}
	v4 := netip.AddrFrom4([4]byte(ip[12:]))
	switch {
	case zero10 && ip[10] == 0xff && ip[11] == 0xff:
		return v4.AppendTo(append(dst, "::ffff:"...))
	case zero10 && ip[10] == 0 && ip[11] == 0 && binary.BigEndian.Uint32(ip[12:]) > 1:
		return v4.AppendTo(append(dst, "::"...))
	}
	return netip.AddrFrom16(ip).AppendTo(dst)
}

// appendWKT turns a geometry cell (4-byte SRID and WKB) into WKT as
// MariaDB's ST_AsText prints it.
func appendWKT(dst, b []byte, mariadb bool) ([]byte, error) {
	if len(b) < 4 {
		return nil, errors.New("geometry shorter than its SRID")
	}
	w := &wkbReader{b: b[4:], mariadb: mariadb}
	out, err := w.geometry(dst, true, 0)
	if err == nil && len(w.b) != 0 {
		err = errors.New("geometry: bytes after the WKB")
	}
	return out, err
}

type wkbReader struct {
	b       []byte
	order   binary.ByteOrder
	mariadb bool
}

func (w *wkbReader) u32() (uint32, error) {
	if len(w.b) < 4 {
		return 0, errors.New("geometry: WKB truncated")
	}
	v := w.order.Uint32(w.b)
	w.b = w.b[4:]
	return v, nil
}

func (w *wkbReader) header() (uint32, error) {
	if len(w.b) < 1 {
		return 0, errors.New("geometry: WKB truncated")
	}
	switch w.b[0] {
	case 0:
		w.order = binary.BigEndian
	case 1:
		w.order = binary.LittleEndian
	default:
		return 0, fmt.Errorf("geometry: byte order %d", w.b[0])
	}
	w.b = w.b[1:]
	return w.u32()
}

func (w *wkbReader) point(dst []byte) ([]byte, error) {
	if len(w.b) < 16 {
		return nil, errors.New("geometry: WKB truncated")
	}
	x := math.Float64frombits(w.order.Uint64(w.b))
	y := math.Float64frombits(w.order.Uint64(w.b[8:]))
	w.b = w.b[16:]
	dst = appendCoord(dst, x)
	dst = append(dst, ' ')
	return appendCoord(dst, y), nil
}

func (w *wkbReader) points(dst []byte) ([]byte, error) {
	n, err := w.u32()
	if err != nil {
		return nil, err
	}
	if int(n) > len(w.b)/16 {
		return nil, errors.New("geometry: WKB truncated")
	}
	dst = append(dst, '(')
	for i := range n {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, err = w.point(dst); err != nil {
			return nil, err
		}
	}
	return append(dst, ')'), nil
}

func (w *wkbReader) rings(dst []byte) ([]byte, error) {
	n, err := w.u32()
	if err != nil {
		return nil, err
	}
	if int(n) > len(w.b)/4 {
		return nil, errors.New("geometry: WKB truncated")
	}
	dst = append(dst, '(')
	for i := range n {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, err = w.points(dst); err != nil {
			return nil, err
		}
	}
	return append(dst, ')'), nil
}

var wkbNames = [...]string{1: "POINT", 2: "LINESTRING", 3: "POLYGON", 4: "MULTIPOINT", 5: "MULTILINESTRING",
	6: "MULTIPOLYGON", 7: "GEOMETRYCOLLECTION"}

// geometry reads one WKB geometry; named says whether to write its type
// name (members of MULTI* geometries have none).
func (w *wkbReader) geometry(dst []byte, named bool, depth int) ([]byte, error) {
	if depth > 32 {
		return nil, errors.New("geometry: nested too deeply")
	}
	typ, err := w.header()
	if err != nil {
		return nil, err
	}
	if typ < 1 || typ > 7 {
		return nil, fmt.Errorf("geometry: WKB type %d", typ)
	}
	if named {
		dst = append(dst, wkbNames[typ]...)
	}
	switch typ {
	case 1:
		dst = append(dst, '(')
		if dst, err = w.point(dst); err != nil {
			return nil, err
		}
		return append(dst, ')'), nil
	case 2:
		return w.points(dst)
	case 3:
		return w.rings(dst)
	}
	n, err := w.u32()
	if err != nil {
		return nil, err
	}
	if int(n) > len(w.b)/5 {
		return nil, errors.New("geometry: WKB truncated")
	}
	if typ == 7 && n == 0 {
		return append(dst, " EMPTY"...), nil
	}
	dst = append(dst, '(')
	for i := range n {
		if i > 0 {
			dst = append(dst, ',')
		}
		switch typ {
		case 4: // MULTIPOINT(1 1,2 2); MySQL 8 writes MULTIPOINT((1 1),(2 2))
			if _, err := w.header(); err != nil {
				return nil, err
			}
			if !w.mariadb {
				dst = append(dst, '(')
			}
			if dst, err = w.point(dst); err != nil {
				return nil, err
			}
			if !w.mariadb {
				dst = append(dst, ')')
			}
		case 5, 6:
			if dst, err = w.geometry(dst, false, depth+1); err != nil {
				return nil, err
			}
		case 7:
			if dst, err = w.geometry(dst, true, depth+1); err != nil {
				return nil, err
			}
		}
	}
	return append(dst, ')'), nil
}

// appendCoord prints a coordinate as MariaDB does: the shortest digits
// that read back as the same double, in plain notation for decimal
// exponents from -15 to 14, else d.ddde±x without padding or plus sign.
func appendCoord(dst []byte, f float64) []byte {
	if f == 0 {
		return append(dst, '0')
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // [-]d[.ddd]e±XX
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	mant, expText, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expText)
	digits := strings.Replace(mant, ".", "", 1)
	if neg {
		dst = append(dst, '-')
	}
	if exp < -15 || exp > 14 {
		dst = append(dst, mant...)
		dst = append(dst, 'e')
		return strconv.AppendInt(dst, int64(exp), 10)
	}
	switch {
	case exp < 0:
		dst = append(dst, "0."...)
		for i := -1; i > exp; i-- {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	case exp+1 >= len(digits):
		dst = append(dst, digits...)
		for i := len(digits); i <= exp; i++ {
			dst = append(dst, '0')
		}
		return dst
	}
	dst = append(dst, digits[:exp+1]...)
	dst = append(dst, '.')
	return append(dst, digits[exp+1:]...)
}
