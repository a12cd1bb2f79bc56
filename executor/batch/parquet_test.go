package batch

import (
	"bytes"
	"testing"
)

func TestParquetRoundTripKeepsNullEmptyAndQuoting(t *testing.T) {
	in := []byte("1,,\"\"\n2,\"a,b\",\"multi\nline \"\"q\"\"\"\n3,plain,\\x00ff\n")
	for _, comp := range []string{compZstd, compGzip, compNone} {
		pq, err := csvToParquet(in, []string{"id", "name", "note"}, comp)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(pq, []byte("PAR1")) {
			t.Fatalf("not a parquet file")
		}
		out, err := parquetToCSV(pq)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("%s round trip:\n%q\n%q", comp, in, out)
		}
	}
	if _, err := csvToParquet([]byte("1,2\n"), []string{"only"}, compNone); err == nil {
		t.Fatal("a record with too many fields was accepted")
	}
}
