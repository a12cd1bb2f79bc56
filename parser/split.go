package parser

// Piece is one statement of a simple-query message.
type Piece struct {
	Text   string // the statement, without its semicolon, trimmed of surrounding whitespace
	Offset int    // byte offset of Text in the message
}

// Split cuts a simple-query message into statements on top-level semicolons (not
// those inside strings, quoted identifiers, dollar quotes or comments). Pieces that
// are empty or hold only whitespace and comments are dropped. An unterminated string
// or comment runs to the end of the message, so Parse reports it. Never panics.
func Split(sql string) []Piece {
	toks, _ := lex(sql, true)
	var pieces []Piece
	start, hasTokens := 0, false
	emit := func(end int) {
		if hasTokens {
			s, e := start, end
			for s < e && isSpace(sql[s]) {
				s++
			}
			for e > s && isSpace(sql[e-1]) {
				e--
			}
			pieces = append(pieces, Piece{Text: sql[s:e], Offset: s})
		}
	}
	for _, t := range toks {
		switch {
		case t.kind == tkEOF:
			emit(len(sql))
		case t.kind == tkOp && t.val == ";":
			emit(t.pos)
			start, hasTokens = t.end, false
		default:
			hasTokens = true
		}
	}
	return pieces
}
