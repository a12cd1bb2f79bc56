package batch

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestChunkerCutsOnRecordBoundaries(t *testing.T) {
	var in strings.Builder
	for i := 0; i < 1000; i++ {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&in, "%d,\"multi\nline, with \"\"quotes\"\"\"\n", i)
		case 1:
			fmt.Fprintf(&in, "%d,,\"\"\n", i)
		default:
			fmt.Fprintf(&in, "%d,plain\n", i)
		}
	}
	src := []byte(in.String())
	for _, step := range []int{1, 7, 64, 4096, len(src)} {
		var chunks [][]byte
		var rows []int64
		c := newChunker(300, func(b []byte, n int64) error {
			chunks = append(chunks, b)
			rows = append(rows, n)
			return nil
		})
		for i := 0; i < len(src); i += step {
			end := min(i+step, len(src))
			if _, err := c.Write(src[i:end]); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(rows) != "[300 300 300 100]" {
			t.Fatalf("step %d: rows per chunk %v", step, rows)
		}
		if !bytes.Equal(bytes.Join(chunks, nil), src) {
			t.Fatalf("step %d: chunks do not reassemble the stream", step)
		}
		for _, ch := range chunks {
			if ch[len(ch)-1] != '\n' {
				t.Fatalf("chunk does not end a record")
			}
		}
	}
}
