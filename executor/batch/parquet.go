package batch

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	pqcompress "github.com/parquet-go/parquet-go/compress"

	"github.com/flowgate/flowgate/connectors/data"
)

// Staged parquet files hold every column as an optional UTF-8 string in
// flowgate's canonical text form: NULL stays NULL, '' stays '', and the
// importers read them back as flowgate CSV. Columns are named c0000, c0001,
// ... (parquet sorts group fields by name); the real names are in the
// file's key-value metadata.

func parquetColumn(i int) string { return fmt.Sprintf("c%04d", i) }

func parquetCodec(compression string) pqcompress.Codec {
	switch compression {
	case compZstd:
		return &parquet.Zstd
	case compGzip:
		return &parquet.Gzip
	}
	return &parquet.Uncompressed
}

// csvToParquet converts one chunk of flowgate CSV with names columns.
func csvToParquet(raw []byte, names []string, compression string) ([]byte, error) {
	group := parquet.Group{}
	for i := range names {
		group[parquetColumn(i)] = parquet.Optional(parquet.String())
	}
	schema := parquet.NewSchema("flowgate", group)
	var out bytes.Buffer
	w := parquet.NewWriter(&out, schema, parquet.Compression(parquetCodec(compression)))
	for i, n := range names {
		w.SetKeyValueMetadata(parquetColumn(i), n)
	}
	r := data.NewReader(bytes.NewReader(raw))
	batch := make([]parquet.Row, 0, 512)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := w.WriteRows(batch)
		batch = batch[:0]
		return err
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(rec) != len(names) {
			return nil, fmt.Errorf("csv record %d has %d fields, want %d", r.Record(), len(rec), len(names))
		}
		row := make(parquet.Row, len(rec))
		for i, f := range rec {
			if f == nil {
				row[i] = parquet.NullValue().Level(0, 0, i)
			} else {
				row[i] = parquet.ByteArrayValue(bytes.Clone(f)).Level(0, 1, i)
			}
		}
		batch = append(batch, row)
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// parquetToCSV reads a staged parquet file back as flowgate CSV.
func parquetToCSV(file []byte) ([]byte, error) {
	r := parquet.NewReader(bytes.NewReader(file))
	defer r.Close()
	var out []byte
	rows := make([]parquet.Row, 256)
	for {
		n, err := r.ReadRows(rows)
		for _, row := range rows[:n] {
			for i, v := range row {
				if i > 0 {
					out = append(out, ',')
				}
				if !v.IsNull() {
					out = data.AppendField(out, v.ByteArray())
				}
			}
			out = append(out, '\n')
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read parquet: %w", err)
		}
	}
}
