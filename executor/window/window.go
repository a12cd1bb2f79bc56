// Package window computes the time window of a files-and-object-storage run
// (FEATURES.md section 5b, seeds 001/002) and expands the ${variables} of
// OBJECT names and WHERE filters.
//
// The window is the run's fire time plus window_start / window_end (a run
// fired at 19:00 with '-70 minutes' / '-10 minutes' covers 17:50 to 18:50);
// a manual run uses now, or start_time / end_time given to RUN.
package window

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Window is [Start, End).
type Window struct {
	Start, End time.Time
}

// Vars are the values of the variables.
type Vars struct {
	Window Window
	Table  string
	Job    string
	RunID  string
}

// Names are the variables OBJECT and WHERE may use.
var Names = []string{"startTime", "endTime", "date", "table", "job", "run_id"}

// Error is a bad variable or offset; Offset is the byte offset in the text.
type Error struct {
	Offset  int
	Message string
	Hint    string
}

func (e *Error) Error() string { return e.Message }

var varRE = regexp.MustCompile(`\$\{([^}]*)\}`)

// Check finds unknown variables in s.
func Check(s string) error {
	for _, m := range varRE.FindAllStringSubmatchIndex(s, -1) {
		name := s[m[2]:m[3]]
		if !known(name) {
			return &Error{Offset: m[0], Message: fmt.Sprintf("unknown variable ${%s}", name),
				Hint: "Variables are ${" + strings.Join(Names, "}, ${") + "}."}
		}
	}
	if i := strings.Index(s, "${"); i >= 0 && !strings.Contains(s[i:], "}") {
		return &Error{Offset: i, Message: "unterminated ${ in " + strconvQuote(s), Hint: "Write variables as ${name}."}
	}
	return nil
}

func strconvQuote(s string) string { return strconv.Quote(s) }

func known(n string) bool {
	for _, k := range Names {
		if k == n {
			return true
		}
	}
	return false
}

// Uses reports whether s has any variable.
func Uses(s string) bool { return varRE.MatchString(s) }

// NameStamp is how times appear in names: yyyyMMddHHmmss.
const NameStamp = "20060102150405"

// ExpandName fills the variables of an OBJECT name or prefix.
func ExpandName(s string, v Vars) string {
	return varRE.ReplaceAllStringFunc(s, func(m string) string {
		switch m[2 : len(m)-1] {
		case "startTime":
			return v.Window.Start.Format(NameStamp)
		case "endTime":
			return v.Window.End.Format(NameStamp)
		case "date":
			return v.Window.Start.Format("20060102")
		case "table":
			return v.Table
		case "job":
			return v.Job
		case "run_id":
			return v.RunID
		}
		return m
	})
}

// ExpandWhere fills the variables of a WHERE filter: times as timestamp
// literals ('2023-04-23 17:50:00', read in the source session's time
// zone, which is source_timezone), names as string literals.
func ExpandWhere(s string, v Vars) string {
	lit := func(x string) string { return "'" + strings.ReplaceAll(x, "'", "''") + "'" }
	return varRE.ReplaceAllStringFunc(s, func(m string) string {
		switch m[2 : len(m)-1] {
		case "startTime":
			return lit(v.Window.Start.Format("2006-01-02 15:04:05"))
		case "endTime":
			return lit(v.Window.End.Format("2006-01-02 15:04:05"))
		case "date":
			return lit(v.Window.Start.Format("2006-01-02"))
		case "table":
			return lit(v.Table)
		case "job":
			return lit(v.Job)
		case "run_id":
			return lit(v.RunID)
		}
		return m
	})
}

var offsetRE = regexp.MustCompile(`^\s*([+-]?)\s*(\d+)\s*([a-z]+)\s*$`)

var units = map[string]time.Duration{
	"second": time.Second, "seconds": time.Second, "sec": time.Second, "s": time.Second,
	"minute": time.Minute, "minutes": time.Minute, "min": time.Minute, "m": time.Minute,
	"hour": time.Hour, "hours": time.Hour, "h": time.Hour,
	"day": 24 * time.Hour, "days": 24 * time.Hour, "d": 24 * time.Hour,
}

// ParseOffset reads '-70 minutes', '-1 hour', '0 seconds', '+2 days'.
func ParseOffset(s string) (time.Duration, error) {
	m := offsetRE.FindStringSubmatch(strings.ToLower(s))
	if m == nil {
		return 0, fmt.Errorf("invalid window offset %q; write it like '-70 minutes', '-1 hour' or '0 seconds'", s)
	}
	n, _ := strconv.ParseInt(m[2], 10, 64)
	u, ok := units[m[3]]
	if !ok {
		return 0, fmt.Errorf("invalid window offset %q: unknown unit %q (seconds, minutes, hours, days)", s, m[3])
	}
	d := time.Duration(n) * u
	if m[1] == "-" {
		d = -d
	}
	return d, nil
}

// Offsets are window_start and window_end.
type Offsets struct {
	Start, End time.Duration
}

// Defaults: the hour before the fire.
const (
	DefaultStart = "-60 minutes"
	DefaultEnd   = "0 seconds"
)

// ParseOffsets reads both offsets (empty = the default) and checks that the
// window is not empty.
func ParseOffsets(start, end string) (Offsets, error) {
	if start == "" {
		start = DefaultStart
	}
	if end == "" {
		end = DefaultEnd
	}
	s, err := ParseOffset(start)
	if err != nil {
		return Offsets{}, err
	}
	e, err := ParseOffset(end)
	if err != nil {
		return Offsets{}, err
	}
	if e <= s {
		return Offsets{}, fmt.Errorf("window_end (%s) must come after window_start (%s)", end, start)
	}
	return Offsets{Start: s, End: e}, nil
}

// At is the window of a run fired at t.
func (o Offsets) At(t time.Time) Window {
	return Window{Start: t.Add(o.Start), End: t.Add(o.End)}
}

// TimeLayouts are the forms start_time / end_time take.
var TimeLayouts = []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "20060102150405", "2006-01-02"}

// ParseTime reads a start_time or end_time given to RUN in loc.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	for _, l := range TimeLayouts {
		if t, err := time.ParseInLocation(l, strings.TrimSpace(s), loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q; write it as 'YYYY-MM-DD HH:MM:SS' or yyyyMMddHHmmss", s)
}

// FireTime is the scheduled time of a fire seen at now: for a cron
// schedule its latest time at or before now (timers fire a little late),
// otherwise now to the second.
func FireTime(kind, expr string, now time.Time) time.Time {
	if kind == "cron" {
		p := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
		if s, err := p.Parse(expr); err == nil {
			for _, back := range []time.Duration{time.Hour, 25 * time.Hour, 32 * 24 * time.Hour, 367 * 24 * time.Hour} {
				var last time.Time
				for t := s.Next(now.Add(-back)); !t.IsZero() && !t.After(now); t = s.Next(t) {
					last = t
				}
				if !last.IsZero() {
					return last
				}
			}
		}
	}
	return now.Truncate(time.Second)
}

// SortedNames is Names sorted, for messages.
func SortedNames() []string {
	n := append([]string(nil), Names...)
	sort.Strings(n)
	return n
}
