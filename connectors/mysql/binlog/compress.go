package binlog

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
)

// uncompressMaria undoes MariaDB's log_bin_compress on a statement text or
// row data: one header byte (bit 7 set, bits 4-6 the algorithm, 0 = zlib;
// bits 0-2 the size of the length), the uncompressed length big-endian,
// then the zlib stream.
func uncompressMaria(b []byte) ([]byte, error) {
	if len(b) < 1 || b[0]&0xe0 != 0x80 {
		return nil, fmt.Errorf("not a compressed MariaDB record (log_bin_compress)")
	}
	alg := b[0] >> 4 & 7
	lenLen := int(b[0] & 7)
	if alg != 0 {
		return nil, fmt.Errorf("log_bin_compress algorithm %d: %w", alg, ErrUnsupported)
	}
	if lenLen < 1 || lenLen > 4 || len(b) < 1+lenLen {
		return nil, fmt.Errorf("log_bin_compress length of %d bytes", lenLen)
	}
	var n int
	for _, x := range b[1 : 1+lenLen] {
		n = n<<8 | int(x)
	}
	zr, err := zlib.NewReader(bytes.NewReader(b[1+lenLen:]))
	if err != nil {
		return nil, fmt.Errorf("log_bin_compress: %w", err)
	}
	defer zr.Close()
	// Read no more than the declared size (plus one byte to notice a
	// longer stream); memory follows what really inflates, not the header.
	out, err := io.ReadAll(io.LimitReader(zr, int64(n)+1))
	if err != nil {
		return nil, fmt.Errorf("log_bin_compress: %w", err)
	}
	if len(out) != n {
		return nil, fmt.Errorf("log_bin_compress: %d bytes inflated, %d declared", len(out), n)
	}
	return out, nil
}
