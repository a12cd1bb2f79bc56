package parser

import (
	"reflect"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		sql  string
		want []Piece
	}{
		{"", nil},
		{"-- ping", nil},
		{" ; ;\n/* c */ ; -- x\n", nil},
		{"SELECT 1", []Piece{{"SELECT 1", 0}}},
		{"SELECT 1;", []Piece{{"SELECT 1", 0}}},
		{" SELECT 1 ; SELECT 2;", []Piece{{"SELECT 1", 1}, {"SELECT 2", 12}}},
		{"SELECT ';'; SELECT \";\"", []Piece{{"SELECT ';'", 0}, {`SELECT ";"`, 12}}},
		{"SELECT E'\\';'; SELECT 2", []Piece{{`SELECT E'\';'`, 0}, {"SELECT 2", 15}}},
		{"SELECT $$;$$, $a$ $$; $a$; SELECT 2", []Piece{{"SELECT $$;$$, $a$ $$; $a$", 0}, {"SELECT 2", 27}}},
		{"SELECT 1 -- ;\n; /* ; /* ; */ ; */ SELECT 2", []Piece{{"SELECT 1 -- ;", 0}, {"/* ; /* ; */ ; */ SELECT 2", 16}}},
		{"SELECT 1; -- trailing", []Piece{{"SELECT 1", 0}}},
		{"SELECT 'abc; SELECT 2", []Piece{{"SELECT 'abc; SELECT 2", 0}}},
		{"SELECT 1; /* open ; SELECT 2", []Piece{{"SELECT 1", 0}}},
		{"SELECT \"a;b; x", []Piece{{"SELECT \"a;b; x", 0}}},
		{"SELECT 'é'; CREATE USER x", []Piece{{"SELECT 'é'", 0}, {"CREATE USER x", 13}}},
		{"SELECT foo$$; SELECT 2", []Piece{{"SELECT foo$$", 0}, {"SELECT 2", 14}}},
	}
	for _, tt := range tests {
		got := Split(tt.sql)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Split(%q)\n got %+v\nwant %+v", tt.sql, got, tt.want)
		}
	}
}
