package binlog_test

import (
	"context"
	"fmt"
	"log"

	"github.com/flowgate/flowgate/connectors/mysql/binlog"
)

// Follow a server's changes from now on, printing each committed row
// change with the position to resume from after its transaction.
func Example() {
	ctx := context.Background()
	c, err := binlog.Dial(ctx, binlog.Config{Addr: "127.0.0.1:3306", User: "repl", Password: "secret", ServerID: 1001})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	st, err := c.MasterStatus(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.StartFromPosition(ctx, st.File, st.Pos); err != nil {
		log.Fatal(err)
	}
	for {
		ev, err := c.NextEvent(ctx)
		if err != nil {
			log.Fatal(err)
		}
		switch d := ev.Data.(type) {
		case *binlog.RowsEvent:
			for _, row := range d.Rows {
				fmt.Println(d.Kind, d.Table.Schema, d.Table.Table, row.Before, row.After)
			}
		case *binlog.XIDEvent:
			fmt.Println("commit", ev.GTID, "resume at", ev.Next)
		}
	}
}
