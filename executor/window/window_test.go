package window

import (
	"strings"
	"testing"
	"time"
)

func TestSeedWindow(t *testing.T) {
	off, err := ParseOffsets("-70 minutes", "-10 minutes")
	if err != nil {
		t.Fatal(err)
	}
	fire := FireTime("cron", "0 * * * *", time.Date(2023, 4, 23, 19, 0, 0, 4e6, time.UTC))
	w := off.At(fire)
	v := Vars{Window: w, Table: "orders", Job: "hourly", RunID: "r1"}
	if got := ExpandName("orders/${date}/orders_${startTime}_${endTime}", v); got != "orders/20230423/orders_20230423175000_20230423185000" {
		t.Errorf("name %s", got)
	}
	if got := ExpandWhere("updated_at >= ${startTime} AND updated_at < ${endTime} AND t = ${table}", v); got != "updated_at >= '2023-04-23 17:50:00' AND updated_at < '2023-04-23 18:50:00' AND t = 'orders'" {
		t.Errorf("where %s", got)
	}
	if err := Check("x_${startTime}_${nope}"); err == nil || !strings.Contains(err.Error(), "${nope}") || !strings.Contains(err.(*Error).Hint, "${run_id}") || err.(*Error).Offset != 15 {
		t.Errorf("check: %#v", err)
	}
	if _, err := ParseOffsets("-10 minutes", "-70 minutes"); err == nil {
		t.Errorf("window_end before window_start accepted")
	}
	if _, err := ParseOffset("-5 fortnights"); err == nil {
		t.Errorf("unknown unit accepted")
	}
	// A late timer still finds its scheduled minute.
	if got := FireTime("cron", "*/5 * * * *", time.Date(2023, 4, 23, 19, 6, 59, 0, time.UTC)); !got.Equal(time.Date(2023, 4, 23, 19, 5, 0, 0, time.UTC)) {
		t.Errorf("fire time %v", got)
	}
}
