package batch

import (
	"bytes"
	"io"

	"github.com/flowgate/flowgate/connectors/data"
)

// newChunker is a data.SplitWriter that hands each chunk of at most rows
// records to emit in memory (for compression and upload in parallel)
// instead of writing files.
func newChunker(rows int64, emit func(chunk []byte, rows int64) error) *data.SplitWriter {
	var cur *bytes.Buffer
	return &data.SplitWriter{
		N: rows,
		Open: func(int) (io.WriteCloser, error) {
			cur = new(bytes.Buffer)
			return nopCloser{cur}, nil
		},
		Done: func(_ int, records, _ int64) error { return emit(cur.Bytes(), records) },
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
