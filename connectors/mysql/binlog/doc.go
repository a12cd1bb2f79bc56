// Package binlog is a MySQL/MariaDB replication client: it connects and
// authenticates on its own TCP connection, asks the server for its binary
// log (by file and position, or by GTID) and decodes the row-based events
// into Go values.
//
// It is written from the protocol documentation and knows nothing of the
// rest of flowgate.
//
// A typical reader:
//
//	c, err := binlog.Dial(ctx, binlog.Config{Addr: "db:3306", User: "repl", Password: pw, ServerID: 1001})
//	st, err := c.MasterStatus(ctx)
//	err = c.StartFromPosition(ctx, st.File, st.Pos)
//	for {
//		ev, err := c.NextEvent(ctx)
//		switch d := ev.Data.(type) {
//		case *binlog.RowsEvent:   // d.Table, d.Rows
//		case *binlog.XIDEvent:    // commit: ev.Next is a position to resume from
//		}
//	}
//
// Values in row images alias the event's buffer, which is never reused:
// memory per event is bounded by the event's size and nothing accumulates
// across events except the table maps of the current statement.
package binlog
