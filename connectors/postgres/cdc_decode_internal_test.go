package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/jackc/pglogrepl"

	"github.com/flowgate/flowgate/connectors/cdc"
)

// tupleBytes renders pgoutput TupleData: nil is 'n', "\x00u" is 'u'.
func tupleBytes(vals ...[]byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(vals)))
	for _, v := range vals {
		switch {
		case v == nil:
			b = append(b, 'n')
		case string(v) == "\x00u":
			b = append(b, 'u')
		default:
			b = append(b, 't')
			b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
			b = append(b, v...)
		}
	}
	return b
}

func testStream() *stream {
	ref := cdc.TableRef{Schema: "public", Name: "t"}
	rel := &relation{ref: ref, ours: true, msg: &pglogrepl.RelationMessage{RelationID: 7, Columns: []*pglogrepl.RelationMessageColumn{{Name: "id"}, {Name: "v"}}},
		keys: []int{0}}
	rel.sig, rel.built, rel.schema = "s", "s", &cdc.TableSchema{Table: ref}
	return &stream{rels: map[uint32]*relation{7: rel}}
}

// Row changes are read from pgoutput's bytes: text values copied out of
// the receive buffer, NULL, unchanged TOAST, old keys; malformed messages
// are errors, never panics.
func TestDecodeRowChanges(t *testing.T) {
	s := testStream()
	msg := func(kind byte, parts ...[]byte) []byte {
		b := append([]byte{kind}, 0, 0, 0, 7)
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	ins := msg('I', []byte{'N'}, tupleBytes([]byte("1"), []byte("")))
	upd := msg('U', []byte{'K'}, tupleBytes([]byte("1"), nil), []byte{'N'}, tupleBytes([]byte("2"), []byte("\x00u")))
	same := msg('U', []byte{'O'}, tupleBytes([]byte("2"), []byte("a")), []byte{'N'}, tupleBytes([]byte("2"), []byte("b")))
	del := msg('D', []byte{'K'}, tupleBytes([]byte("2"), nil))
	for _, m := range [][]byte{ins, upd, same, del} {
		buf := bytes.Clone(m)
		if err := s.decode(context.Background(), buf); err != nil {
			t.Fatalf("%q: %v", m, err)
		}
		clear(buf) // the receive buffer is reused
	}
	if len(s.queue) != 4 {
		t.Fatalf("%d events", len(s.queue))
	}
	c := s.queue[0].Change
	if c.Op != cdc.Insert || string(c.New.Values[0]) != "1" || c.New.Values[1] == nil || len(c.New.Values[1]) != 0 {
		t.Errorf("insert: %+v", c)
	}
	c = s.queue[1].Change
	if c.Op != cdc.Update || string(c.Old.Values[0]) != "1" || string(c.New.Values[0]) != "2" || !c.New.IsUnchanged(1) {
		t.Errorf("key update: %+v", c)
	}
	c = s.queue[2].Change
	if c.Op != cdc.Update || c.Old.Values != nil || string(c.New.Values[1]) != "b" {
		t.Errorf("update with the same key: %+v", c)
	}
	c = s.queue[3].Change
	if c.Op != cdc.Delete || string(c.Old.Values[0]) != "2" || c.Old.Values[1] != nil {
		t.Errorf("delete: %+v", c)
	}
	// Every truncation of every message, and wrong counts and kinds.
	bad := [][]byte{msg('I', []byte{'N'}, tupleBytes([]byte("1"))), msg('I', []byte{'X'}), msg('D', []byte{'N'}, tupleBytes([]byte("1"), nil)),
		msg('U', []byte{'K'}, tupleBytes([]byte("1"), nil))}
	for _, m := range [][]byte{ins, upd, same, del} {
		for n := 1; n < len(m); n++ {
			bad = append(bad, m[:n])
		}
	}
	for _, m := range bad {
		s.queue = nil
		if err := s.decode(context.Background(), m); err == nil {
			t.Errorf("%q: no error", m)
		}
	}
}
