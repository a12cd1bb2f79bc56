package fileformat

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	pqcompress "github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/format"

	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

// Parquet files carry each column under its own name with a parquet type
// that says what it is: integers INT32/INT64, numeric(p,s) with p <= 18
// DECIMAL(p,s) over INT64 (larger or unconstrained numerics as strings),
// float/double, boolean, DATE, TIMESTAMP(MICROS) (adjusted to UTC for
// timestamptz), binary as BYTE_ARRAY, json as JSON, the rest as STRING.
// Every column is optional.

func parquetNode(t schema.Type) parquet.Node {
	switch k := t.Kind; {
	case k == schema.Bool:
		return parquet.Leaf(parquet.BooleanType)
	case k == schema.Int64 || (t.Unsigned && k.IsInteger()):
		return parquet.Int(64)
	case k.IsInteger() || k == schema.Year:
		return parquet.Int(32)
	case k == schema.Decimal && t.Precision > 0 && t.Precision <= 18:
		return parquet.Decimal(t.Scale, t.Precision, parquet.Int64Type)
	case k == schema.Float32:
		return parquet.Leaf(parquet.FloatType)
	case k == schema.Float64:
		return parquet.Leaf(parquet.DoubleType)
	case k == schema.Date:
		return parquet.Date()
	case k == schema.Timestamp:
		return parquet.TimestampAdjusted(parquet.Microsecond, false)
	case k == schema.TimestampTZ:
		return parquet.TimestampAdjusted(parquet.Microsecond, true)
	case k == schema.Binary || k == schema.Varbinary || k == schema.Blob:
		return parquet.Leaf(parquet.ByteArrayType)
	case k == schema.JSON:
		return parquet.JSON()
	}
	return parquet.String()
}

func parquetCodec(c string) pqcompress.Codec {
	switch c {
	case "zstd":
		return &parquet.Zstd
	case "gzip":
		return &parquet.Gzip
	case "snappy":
		return &parquet.Snappy
	}
	return &parquet.Uncompressed
}

type parquetWriter struct {
	w     *parquet.Writer
	cols  []Column
	leaf  []int // parquet column index of each column (fields are sorted by name)
	batch []parquet.Row
	rec   int64
}

func newParquetWriter(w io.Writer, cols []Column, o Options) (RecordWriter, error) {
	group := parquet.Group{}
	names := make([]string, len(cols))
	for i, c := range cols {
		if _, dup := group[c.Name]; dup {
			return nil, fmt.Errorf("parquet: column %q appears twice", c.Name)
		}
		group[c.Name] = parquet.Optional(parquetNode(c.Type))
		names[i] = c.Name
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	leaf := make([]int, len(cols))
	for i, n := range names {
		leaf[i] = sort.SearchStrings(sorted, n)
	}
	sch := parquet.NewSchema("flowgate", group)
	pw := parquet.NewWriter(w, sch, parquet.Compression(parquetCodec(o.Compression)), parquet.CreatedBy("flowgate", "", ""))
	return &parquetWriter{w: pw, cols: cols, leaf: leaf}, nil
}

func (p *parquetWriter) Write(rec [][]byte) error {
	p.rec++
	row := make(parquet.Row, len(p.cols))
	for i, c := range p.cols {
		li := p.leaf[i]
		if rec[i] == nil {
			row[li] = parquet.NullValue().Level(0, 0, li)
			continue
		}
		v, err := parquetValue(c, rec[i])
		if err != nil {
			return &BadRecord{Position: fmt.Sprintf("record %d", p.rec), Err: err, Excerpt: excerpt(rec)}
		}
		row[li] = v.Level(0, 1, li)
	}
	p.batch = append(p.batch, row)
	if len(p.batch) >= 1024 {
		return p.flush()
	}
	return nil
}

func (p *parquetWriter) flush() error {
	if len(p.batch) == 0 {
		return nil
	}
	_, err := p.w.WriteRows(p.batch)
	p.batch = p.batch[:0]
	return err
}

func (p *parquetWriter) Close() error {
	if err := p.flush(); err != nil {
		return err
	}
	return p.w.Close()
}

var epoch = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

func parquetValue(c Column, v []byte) (parquet.Value, error) {
	t := c.Type
	bad := func(err error) (parquet.Value, error) {
		return parquet.Value{}, fmt.Errorf("column %s: %w", c.Name, err)
	}
	switch k := t.Kind; {
	case k == schema.Bool:
		b, err := data.ParseBool(v)
		if err != nil {
			return bad(err)
		}
		return parquet.BooleanValue(b), nil
	case k == schema.Int64 || (t.Unsigned && k.IsInteger()):
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return bad(fmt.Errorf("%q is not a 64-bit integer", v))
		}
		return parquet.Int64Value(n), nil
	case k.IsInteger() || k == schema.Year:
		n, err := strconv.ParseInt(string(v), 10, 32)
		if err != nil {
			return bad(fmt.Errorf("%q is not a 32-bit integer", v))
		}
		return parquet.Int32Value(int32(n)), nil
	case k == schema.Decimal && t.Precision > 0 && t.Precision <= 18:
		r, ok := new(big.Rat).SetString(string(v))
		if !ok {
			return bad(fmt.Errorf("%q is not a number", v))
		}
		r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(t.Scale)), nil)))
		if !r.IsInt() || !r.Num().IsInt64() {
			return bad(fmt.Errorf("%s does not fit numeric(%d,%d)", v, t.Precision, t.Scale))
		}
		return parquet.Int64Value(r.Num().Int64()), nil
	case k == schema.Float32 || k == schema.Float64:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			switch strings.ToLower(string(v)) {
			case "nan":
				f = math.NaN()
			case "infinity":
				f = math.Inf(1)
			case "-infinity":
				f = math.Inf(-1)
			default:
				return bad(fmt.Errorf("%q is not a number", v))
			}
		}
		if k == schema.Float32 {
			return parquet.FloatValue(float32(f)), nil
		}
		return parquet.DoubleValue(f), nil
	case k == schema.Date:
		ts, _, err := data.ParseTimestamp(v)
		if err != nil {
			return bad(err)
		}
		days := time.Date(ts.Year(), ts.Month(), ts.Day(), 0, 0, 0, 0, time.UTC).Sub(epoch) / (24 * time.Hour)
		return parquet.Int32Value(int32(days)), nil
	case k == schema.Timestamp || k == schema.TimestampTZ:
		ts, _, err := data.ParseTimestamp(v)
		if err != nil {
			return bad(err)
		}
		if k == schema.Timestamp {
			ts = time.Date(ts.Year(), ts.Month(), ts.Day(), ts.Hour(), ts.Minute(), ts.Second(), ts.Nanosecond(), time.UTC)
		}
		return parquet.Int64Value(ts.UnixMicro()), nil
	case k == schema.Binary || k == schema.Varbinary || k == schema.Blob:
		b, err := data.DecodeHex(nil, v)
		if err != nil {
			return bad(err)
		}
		return parquet.ByteArrayValue(b), nil
	}
	return parquet.ByteArrayValue(append([]byte(nil), v...)), nil
}

// NewParquetReader reads a parquet file into cols, matching columns by name
// (case-insensitive; a column the file lacks is NULL).
func NewParquetReader(ra io.ReaderAt, name string, cols []Column, o Options) (RecordReader, error) {
	r := parquet.NewReader(ra)
	sch := r.Schema()
	pr := &parquetReader{r: r, name: name, cols: cols, o: o, from: make([]int, len(cols)), conv: make([]func(parquet.Value) ([]byte, error), len(cols))}
	pr.o.DateFormat = nil
	byName := map[string]parquet.LeafColumn{}
	for _, path := range sch.Columns() {
		if lc, ok := sch.Lookup(path...); ok && len(path) == 1 {
			byName[strings.ToLower(path[0])] = lc
		}
	}
	found := 0
	for i, c := range cols {
		lc, ok := byName[strings.ToLower(c.Name)]
		if !ok {
			pr.from[i] = -1
			continue
		}
		found++
		pr.from[i] = lc.ColumnIndex
		pr.conv[i] = fromParquet(lc.Node.Type(), c)
	}
	if found == 0 {
		r.Close()
		return nil, fmt.Errorf("%s: the parquet file has none of the target columns (%s)", name, colNames(cols))
	}
	return pr, nil
}

type parquetReader struct {
	r    *parquet.Reader
	name string
	cols []Column
	o    Options
	from []int
	conv []func(parquet.Value) ([]byte, error)
	buf  []parquet.Row
	at   int
	n    int
	row  int64
	done bool
}

func (p *parquetReader) Read() ([][]byte, error) {
	if p.at >= p.n {
		if p.done {
			p.r.Close()
			return nil, io.EOF
		}
		if p.buf == nil {
			p.buf = make([]parquet.Row, 256)
		}
		n, err := p.r.ReadRows(p.buf)
		p.at, p.n = 0, n
		if errors.Is(err, io.EOF) {
			p.done = true
		} else if err != nil {
			return nil, fmt.Errorf("%s: read parquet: %w", p.name, err)
		}
		if n == 0 {
			p.r.Close()
			return nil, io.EOF
		}
	}
	row := p.buf[p.at]
	p.at++
	p.row++
	out := make([][]byte, len(p.cols))
	byCol := map[int]parquet.Value{}
	for _, v := range row {
		byCol[v.Column()] = v
	}
	for i, c := range p.cols {
		if p.from[i] < 0 {
			continue
		}
		v, ok := byCol[p.from[i]]
		if !ok || v.IsNull() {
			continue
		}
		text, err := p.conv[i](v)
		if err == nil {
			text, err = p.o.Canonical(c, text)
		}
		if err != nil {
			return nil, &BadRecord{Position: fmt.Sprintf("%s:row %d", p.name, p.row), Err: err, Excerpt: p.excerpt(row)}
		}
		out[i] = append(make([]byte, 0, len(text)), text...)
	}
	return out, nil
}

func (p *parquetReader) excerpt(row parquet.Row) string {
	var parts []string
	for _, v := range row {
		parts = append(parts, v.String())
	}
	return clip(strings.Join(parts, ","))
}

// fromParquet converts a value of parquet type t into canonical text for c.
func fromParquet(t parquet.Type, c Column) func(parquet.Value) ([]byte, error) {
	lt := t.LogicalType()
	var lv format.LogicalTypeValue
	if lt != nil {
		lv = lt.Value
	}
	binaryTarget := c.Type.Kind == schema.Binary || c.Type.Kind == schema.Varbinary || c.Type.Kind == schema.Blob
	return func(v parquet.Value) ([]byte, error) {
		switch x := lv.(type) {
		case *format.DateType:
			return data.AppendDate(nil, epoch.AddDate(0, 0, int(v.Int32()))), nil
		case *format.TimestampType:
			var n int64 = v.Int64()
			var ts time.Time
			switch x.Unit.Value.(type) {
			case *format.MilliSeconds:
				ts = time.UnixMilli(n)
			case *format.NanoSeconds:
				ts = time.Unix(0, n)
			default:
				ts = time.UnixMicro(n)
			}
			ts = ts.UTC()
			if c.Type.Kind == schema.Timestamp || !x.IsAdjustedToUTC {
				return data.AppendTimestamp(nil, ts, false), nil
			}
			return data.AppendTimestamp(nil, ts, true), nil
		case *format.DecimalType:
			var unscaled *big.Int
			switch v.Kind() {
			case parquet.Int32:
				unscaled = big.NewInt(int64(v.Int32()))
			case parquet.Int64:
				unscaled = big.NewInt(v.Int64())
			default:
				b := v.ByteArray()
				unscaled = new(big.Int).SetBytes(b)
				if len(b) > 0 && b[0]&0x80 != 0 {
					unscaled.Sub(unscaled, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
				}
			}
			r := new(big.Rat).SetFrac(unscaled, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(x.Scale)), nil))
			return []byte(r.FloatString(int(x.Scale))), nil
		}
		switch v.Kind() {
		case parquet.Boolean:
			if v.Boolean() {
				return []byte("t"), nil
			}
			return []byte("f"), nil
		case parquet.Int32:
			return strconv.AppendInt(nil, int64(v.Int32()), 10), nil
		case parquet.Int64:
			return strconv.AppendInt(nil, v.Int64(), 10), nil
		case parquet.Float:
			return data.AppendFloat(nil, float64(v.Float()), 32), nil
		case parquet.Double:
			return data.AppendFloat(nil, v.Double(), 64), nil
		case parquet.ByteArray, parquet.FixedLenByteArray:
			if binaryTarget {
				return data.AppendHex(nil, v.ByteArray()), nil
			}
			return append([]byte(nil), v.ByteArray()...), nil
		}
		return []byte(v.String()), nil
	}
}
