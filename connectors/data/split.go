package data

import (
	"bytes"
	"fmt"
	"io"
)

// RecordScanner finds record ends in a flowgate CSV stream fed in pieces:
// a newline outside quotes. A quote toggles the state; "" inside a quoted
// field toggles it twice, so counting quotes is enough.
type RecordScanner struct{ inQuote bool }

// Next returns the index just past the first record end in p[from:], or -1
// when there is none (the quote state then covers all of p).
func (r *RecordScanner) Next(p []byte, from int) int {
	for i := from; i < len(p); i++ {
		j := bytes.IndexAny(p[i:], "\"\n")
		if j < 0 {
			return -1
		}
		i += j
		if p[i] == '"' {
			r.inQuote = !r.inQuote
		} else if !r.inQuote {
			return i + 1
		}
	}
	return -1
}

// InQuote reports whether the stream so far ends inside a quoted field.
func (r *RecordScanner) InQuote() bool { return r.inQuote }

// SplitWriter cuts a flowgate CSV stream into files of at most N records,
// always at a record boundary: it tracks quoting, so a newline inside a
// quoted field does not end a record. Write the stream to it (an Exporter
// can write straight into it) and Close it at the end.
type SplitWriter struct {
	// N is the most records per file (> 0).
	N int64
	// Open starts file number seq (0, 1, ...).
	Open func(seq int) (io.WriteCloser, error)
	// Done, when set, is called after file seq was closed, with its
	// record and byte counts.
	Done func(seq int, records, bytes int64) error

	cur     io.WriteCloser
	seq     int
	records int64 // records in the current file
	bytes   int64
	scan    RecordScanner
	partial bool // the current file holds bytes of an unfinished record
	err     error
}

// Write implements io.Writer. It never splits a record across files.
func (s *SplitWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.N <= 0 {
		s.err = fmt.Errorf("split: N must be positive, got %d", s.N)
		return 0, s.err
	}
	total := len(p)
	for len(p) > 0 {
		if s.cur == nil {
			if err := s.open(); err != nil {
				return total - len(p), err
			}
		}
		// Find the end of the N-th record of this file, if it is in p.
		cut, last := -1, -1
		for end := s.scan.Next(p, 0); end >= 0; end = s.scan.Next(p, end) {
			s.records++
			last = end
			if s.records == s.N {
				cut = end
				break
			}
		}
		chunk := p
		if cut >= 0 {
			chunk = p[:cut]
		}
		if last >= 0 {
			s.partial = len(chunk) > last
		} else if len(chunk) > 0 {
			s.partial = true
		}
		if err := s.write(chunk); err != nil {
			return total - len(p), err
		}
		p = p[len(chunk):]
		if cut >= 0 {
			if err := s.closeFile(); err != nil {
				return total - len(p), err
			}
		}
	}
	return total, nil
}

func (s *SplitWriter) open() error {
	w, err := s.Open(s.seq)
	if err != nil {
		s.err = fmt.Errorf("split: open file %d: %w", s.seq, err)
		return s.err
	}
	s.cur, s.records, s.bytes = w, 0, 0
	return nil
}

func (s *SplitWriter) write(p []byte) error {
	n, err := s.cur.Write(p)
	s.bytes += int64(n)
	if err != nil {
		s.err = fmt.Errorf("split: write file %d: %w", s.seq, err)
	}
	return s.err
}

func (s *SplitWriter) closeFile() error {
	if err := s.cur.Close(); err != nil {
		s.err = fmt.Errorf("split: close file %d: %w", s.seq, err)
		return s.err
	}
	seq, records, bytes := s.seq, s.records, s.bytes
	s.cur = nil
	s.seq++
	if s.Done != nil {
		if err := s.Done(seq, records, bytes); err != nil {
			s.err = err
			return err
		}
	}
	return nil
}

// Close closes the last file. A last record without its newline counts as
// a record. A stream that ends inside a quoted field is an error. An empty
// stream makes no file at all.
func (s *SplitWriter) Close() error {
	if s.err != nil {
		if s.cur != nil {
			s.cur.Close()
			s.cur = nil
		}
		return s.err
	}
	if s.cur == nil {
		return nil
	}
	if s.scan.InQuote() {
		s.cur.Close()
		s.cur = nil
		s.err = fmt.Errorf("split: stream ends inside a quoted field")
		return s.err
	}
	if s.partial {
		s.records++ // unterminated last record
	}
	return s.closeFile()
}

// Files returns how many files were started.
func (s *SplitWriter) Files() int { return s.seq }

// Split copies the flowgate CSV stream r into files of at most n records.
func Split(r io.Reader, n int64, open func(seq int) (io.WriteCloser, error), done func(seq int, records, bytes int64) error) (files int, err error) {
	s := &SplitWriter{N: n, Open: open, Done: done}
	if _, err := io.Copy(s, r); err != nil {
		s.Close()
		return s.Files(), err
	}
	if err := s.Close(); err != nil {
		return s.Files(), err
	}
	return s.Files(), nil
}
