package wire

import (
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

func TestTextBinaryRoundTrip(t *testing.T) {
	m := pgtype.NewMap()
	cases := []struct {
		oid  uint32
		text string
	}{
		{16, "t"}, {21, "-3"}, {23, "42"}, {20, "9000000000"}, {700, "1.5"}, {701, "Infinity"}, {701, "-Infinity"}, {701, "NaN"},
		{1700, "123.4500"}, {1700, "NaN"}, {1700, "-0.001"}, {26, "12345"}, {18, "x"}, {19, "name"}, {1042, "ab  "},
		{1184, "2024-01-02 03:04:05.123456Z"}, {1184, "infinity"}, {1114, "2024-01-02 03:04:05.5"},
		{1082, "2024-01-02"}, {1082, "-infinity"}, {17, `\x0102ff`}, {114, `{"a":  1}`}, {3802, `{"a": 1}`},
		{2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}, {1186, "-00:00:01"},
		{1009, `{a,"b c",NULL}`}, {1007, "{1,2,NULL}"}, {1016, "{}"}, {22, "1 2 3"}, {30, "23 25"},
	}
	for _, c := range cases {
		if !binarySupported(m, c.oid) {
			t.Errorf("%d not binary", c.oid)
		}
		b, err := textToBinary(m, c.oid, []byte(c.text))
		if err != nil {
			t.Errorf("%d %q: %v", c.oid, c.text, err)
			continue
		}
		back, err := binaryToText(m, c.oid, b)
		if err != nil || string(back) != c.text {
			t.Errorf("%d %q -> %q %v", c.oid, c.text, back, err)
		}
	}
	if _, err := textToBinary(m, 23, []byte("abc")); err == nil {
		t.Error("bad int4 accepted")
	}
	if binarySupported(m, 999999) {
		t.Error("unknown type claims binary")
	}
}
