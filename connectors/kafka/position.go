package kafka

// A position is every partition's next offset to read, in the order of
// topic and partition: "shop/0:1234,shop/1:87,shop_extra/0:0". Kafka topic
// names are [a-zA-Z0-9._-], so '/', ':' and ',' cannot occur in them.

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/flowgate/flowgate/connectors/cdc"
)

type tp struct {
	topic string
	part  int32
}

func (t tp) String() string { return t.topic + "/" + strconv.Itoa(int(t.part)) }

type position map[tp]int64

func parsePosition(s cdc.Position) (position, error) {
	p := position{}
	if s == "" {
		return p, nil
	}
	for _, item := range strings.Split(string(s), ",") {
		slash := strings.LastIndexByte(item, '/')
		colon := strings.LastIndexByte(item, ':')
		if slash <= 0 || colon < slash {
			return nil, fmt.Errorf("position %q: %q is not topic/partition:offset", s, item)
		}
		part, err := strconv.ParseInt(item[slash+1:colon], 10, 32)
		if err != nil || part < 0 {
			return nil, fmt.Errorf("position %q: bad partition in %q", s, item)
		}
		off, err := strconv.ParseInt(item[colon+1:], 10, 64)
		if err != nil || off < 0 {
			return nil, fmt.Errorf("position %q: bad offset in %q", s, item)
		}
		p[tp{item[:slash], int32(part)}] = off
	}
	return p, nil
}

func (p position) sorted() []tp {
	keys := make([]tp, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].topic != keys[j].topic {
			return keys[i].topic < keys[j].topic
		}
		return keys[i].part < keys[j].part
	})
	return keys
}

func (p position) String() string {
	var b []byte
	for i, k := range p.sorted() {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, k.topic...)
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(k.part), 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, p[k], 10)
	}
	return string(b)
}

// compare orders two positions: a partition missing from one counts as
// offset 0. When some partitions are ahead and others behind, the sums
// of offsets decide (positions of one stream never cross like that).
func compare(a, b position) int {
	ahead, behind := false, false
	var sa, sb int64
	seen := map[tp]bool{}
	for _, m := range []position{a, b} {
		for k := range m {
			if seen[k] {
				continue
			}
			seen[k] = true
			x, y := a[k], b[k]
			sa, sb = sa+x, sb+y
			ahead = ahead || x > y
			behind = behind || x < y
		}
	}
	switch {
	case ahead && !behind:
		return 1
	case behind && !ahead:
		return -1
	case !ahead && !behind:
		return 0
	case sa > sb:
		return 1
	case sa < sb:
		return -1
	}
	return 0
}

// posWriter builds position strings fast for the partitions of a stream:
// the topic/partition prefixes are made once.
type posWriter struct {
	keys   []tp
	prefix [][]byte
	index  map[tp]int
	offs   []int64
	buf    []byte
}

func newPosWriter(p position) *posWriter {
	w := &posWriter{index: map[tp]int{}}
	for _, k := range p.sorted() {
		w.add(k, p[k])
	}
	return w
}

// add inserts a partition, keeping the order.
func (w *posWriter) add(k tp, off int64) {
	if i, ok := w.index[k]; ok {
		w.offs[i] = off
		return
	}
	keys := append(w.keys, k)
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].topic != keys[j].topic {
			return keys[i].topic < keys[j].topic
		}
		return keys[i].part < keys[j].part
	})
	old := w.position()
	old[k] = off
	w.keys = keys
	w.prefix = w.prefix[:0]
	w.offs = w.offs[:0]
	w.index = map[tp]int{}
	for i, key := range keys {
		w.index[key] = i
		w.prefix = append(w.prefix, []byte(key.String()+":"))
		w.offs = append(w.offs, old[key])
	}
}

func (w *posWriter) set(k tp, off int64) {
	i, ok := w.index[k]
	if !ok {
		w.add(k, off)
		return
	}
	w.offs[i] = off
}

func (w *posWriter) get(k tp) (int64, bool) {
	i, ok := w.index[k]
	if !ok {
		return 0, false
	}
	return w.offs[i], true
}

func (w *posWriter) position() position {
	p := make(position, len(w.keys))
	for i, k := range w.keys {
		p[k] = w.offs[i]
	}
	return p
}

func (w *posWriter) String() string {
	b := w.buf[:0]
	for i := range w.keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, w.prefix[i]...)
		b = strconv.AppendInt(b, w.offs[i], 10)
	}
	w.buf = b
	return string(b)
}
