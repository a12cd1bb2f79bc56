package pgquery

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// storageLayout is how the catalog stores timestamps (UTC, no zone).
const storageLayout = "2006-01-02 15:04:05.000000"

// interval is a constant PostgreSQL interval. Months and days stay apart
// from time so that calendar arithmetic can use SQLite's date modifiers.
type interval struct {
	months, days int64
	micros       int64
}

// seconds flattens the interval (a month is 30 days, as PostgreSQL's
// interval comparison does).
func (iv interval) seconds() float64 {
	return float64(iv.months)*30*86400 + float64(iv.days)*86400 + float64(iv.micros)/1e6
}

// String renders the interval like PostgreSQL's default IntervalStyle.
func (iv interval) String() string {
	var parts []string
	y, m := iv.months/12, iv.months%12
	plural := func(n int64, unit string) string {
		if n == 1 || n == -1 {
			return fmt.Sprintf("%d %s", n, unit)
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	if y != 0 {
		parts = append(parts, plural(y, "year"))
	}
	if m != 0 {
		parts = append(parts, plural(m, "mon"))
	}
	if iv.days != 0 {
		parts = append(parts, plural(iv.days, "day"))
	}
	if iv.micros != 0 || len(parts) == 0 {
		parts = append(parts, formatClock(iv.micros))
	}
	return strings.Join(parts, " ")
}

// formatClock renders microseconds as [-]HH:MM:SS[.ffffff].
func formatClock(us int64) string {
	sign := ""
	if us < 0 {
		sign = "-"
		us = -us
	}
	h := us / 3600e6
	us -= h * 3600e6
	m := us / 60e6
	us -= m * 60e6
	s := us / 1e6
	us -= s * 1e6
	out := fmt.Sprintf("%s%02d:%02d:%02d", sign, h, m, s)
	if us != 0 {
		out += strings.TrimRight(fmt.Sprintf(".%06d", us), "0")
	}
	return out
}

// formatIntervalSeconds renders a computed interval (seconds) the way
// PostgreSQL shows the result of timestamp subtraction: days and a clock.
func formatIntervalSeconds(secs float64) string {
	us := int64(math.Round(secs * 1e6))
	days := us / 86400e6
	return interval{days: days, micros: us - days*86400e6}.String()
}

var intervalUnits = map[string]string{
	"microsecond": "us", "microseconds": "us", "us": "us", "usec": "us", "usecs": "us",
	"millisecond": "ms", "milliseconds": "ms", "ms": "ms", "msec": "ms", "msecs": "ms",
	"second": "s", "seconds": "s", "s": "s", "sec": "s", "secs": "s",
	"minute": "m", "minutes": "m", "m": "m", "min": "m", "mins": "m",
	"hour": "h", "hours": "h", "h": "h", "hr": "h", "hrs": "h",
	"day": "d", "days": "d", "d": "d",
	"week": "w", "weeks": "w", "w": "w",
	"month": "mon", "months": "mon", "mon": "mon", "mons": "mon",
	"year": "y", "years": "y", "y": "y", "yr": "y", "yrs": "y",
	"decade": "dec", "decades": "dec", "century": "c", "centuries": "c",
}

// parseInterval reads PostgreSQL interval input: "1 hour 30 minutes",
// "2 days", "-1 day", "01:30:00", "1 day 02:00:00", "@ 1 hour ago", "P1D"
// (ISO 8601 is not supported). A bare number means seconds.
func parseInterval(s string) (interval, error) {
	var iv interval
	bad := fmt.Errorf("invalid input syntax for type interval: %q", s)
	fields := strings.Fields(strings.ToLower(strings.TrimSpace(s)))
	if len(fields) > 0 && fields[0] == "@" {
		fields = fields[1:]
	}
	ago := false
	if n := len(fields); n > 0 && fields[n-1] == "ago" {
		ago = true
		fields = fields[:n-1]
	}
	if len(fields) == 0 {
		return iv, bad
	}
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		if strings.Contains(f, ":") {
			us, err := parseClock(f)
			if err != nil {
				return iv, bad
			}
			iv.micros += us
			continue
		}
		// "1hour" style: split number and unit.
		num, unit := splitNumUnit(f)
		if num == "" {
			return iv, bad
		}
		if unit == "" {
			if i+1 < len(fields) {
				if _, ok := intervalUnits[fields[i+1]]; ok {
					unit = fields[i+1]
					i++
				}
			}
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return iv, bad
		}
		if unit == "" {
			unit = "second"
		}
		u, ok := intervalUnits[unit]
		if !ok {
			return iv, bad
		}
		switch u {
		case "us":
			iv.micros += int64(math.Round(v))
		case "ms":
			iv.micros += int64(math.Round(v * 1e3))
		case "s":
			iv.micros += int64(math.Round(v * 1e6))
		case "m":
			iv.micros += int64(math.Round(v * 60e6))
		case "h":
			iv.micros += int64(math.Round(v * 3600e6))
		case "d":
			whole := math.Trunc(v)
			iv.days += int64(whole)
			iv.micros += int64(math.Round((v - whole) * 86400e6))
		case "w":
			d := v * 7
			whole := math.Trunc(d)
			iv.days += int64(whole)
			iv.micros += int64(math.Round((d - whole) * 86400e6))
		case "mon":
			whole := math.Trunc(v)
			iv.months += int64(whole)
			iv.days += int64(math.Round((v - whole) * 30))
		case "y":
			iv.months += int64(math.Round(v * 12))
		case "dec":
			iv.months += int64(math.Round(v * 120))
		case "c":
			iv.months += int64(math.Round(v * 1200))
		}
	}
	if ago {
		iv = iv.neg()
	}
	return iv, nil
}

func (iv interval) neg() interval {
	return interval{months: -iv.months, days: -iv.days, micros: -iv.micros}
}

func splitNumUnit(f string) (string, string) {
	i := 0
	for i < len(f) && (f[i] == '-' || f[i] == '+' || f[i] == '.' || unicode.IsDigit(rune(f[i]))) {
		i++
	}
	return f[:i], f[i:]
}

// parseClock reads [-]HH:MM[:SS[.ffffff]].
func parseClock(f string) (int64, error) {
	neg := strings.HasPrefix(f, "-")
	f = strings.TrimLeft(f, "+-")
	p := strings.Split(f, ":")
	if len(p) < 2 || len(p) > 3 {
		return 0, fmt.Errorf("bad clock")
	}
	h, err1 := strconv.ParseInt(p[0], 10, 64)
	m, err2 := strconv.ParseInt(p[1], 10, 64)
	var sec float64
	var err3 error
	if len(p) == 3 {
		sec, err3 = strconv.ParseFloat(p[2], 64)
	}
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, fmt.Errorf("bad clock")
	}
	us := h*3600e6 + m*60e6 + int64(math.Round(sec*1e6))
	if neg {
		us = -us
	}
	return us, nil
}

// tsLayouts are accepted timestamp inputs (PostgreSQL accepts more).
var tsLayouts = []string{
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07",
	"2006-01-02 15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04Z07:00",
	"2006-01-02 15:04Z07",
	"2006-01-02 15:04",
	"2006-01-02Z07:00",
	"2006-01-02",
	"2006-01-02 15:04:05.999999999 MST",
	"Mon Jan 2 15:04:05.999999999 2006 MST",
	time.RFC1123Z,
	time.RFC1123,
}

// parseTimestamp reads a timestamp literal; a missing zone means UTC (the
// session time zone flowgate reports).
func parseTimestamp(s string) (time.Time, error) {
	v := strings.TrimSpace(s)
	switch strings.ToLower(v) {
	case "epoch":
		return time.Unix(0, 0).UTC(), nil
	case "now":
		return nowFunc().UTC(), nil
	case "today":
		return nowFunc().UTC().Truncate(24 * time.Hour), nil
	case "yesterday":
		return nowFunc().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1), nil
	case "tomorrow":
		return nowFunc().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1), nil
	}
	v = strings.Replace(v, "T", " ", 1)
	if strings.HasSuffix(v, "Z") || strings.HasSuffix(v, "z") {
		v = v[:len(v)-1] + "+00:00"
	}
	if strings.HasSuffix(strings.ToUpper(v), " UTC") {
		v = strings.TrimSpace(v[:len(v)-4]) + "+00:00"
	}
	// "2024-01-01 10:00:00 +02" -> drop the space before the zone.
	if i := strings.LastIndexAny(v, "+-"); i > 10 && v[i-1] == ' ' {
		v = v[:i-1] + v[i:]
	}
	for _, l := range tsLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid input syntax for type timestamp with time zone: %q", s)
}

// storageTime renders a time in the catalog's storage form.
func storageTime(t time.Time) string {
	return t.UTC().Format(storageLayout)
}

// --- SQL fragments for timestamp arithmetic on storage text ---

// sqlTSMicros turns a stored timestamp into microseconds since the epoch.
func sqlTSMicros(ts string) string {
	return fmt.Sprintf("(unixepoch(substr(%[1]s,1,19))*1000000 + CAST(substr(substr(%[1]s,21)||'000000',1,6) AS INTEGER))", ts)
}

// sqlMicrosTS turns microseconds since the epoch into storage text.
func sqlMicrosTS(us string) string {
	return fmt.Sprintf("(strftime('%%Y-%%m-%%d %%H:%%M:%%S', (%[1]s) / 1000000, 'unixepoch') || '.' || substr('000000' || ((%[1]s) %% 1000000), -6))", us)
}

// sqlTSAddInterval adds a constant interval (times sign) to a timestamp.
// Calendar parts use SQLite modifiers ('floor' clamps month ends the way
// PostgreSQL does); the fraction of the timestamp is carried over as text.
func sqlTSAddInterval(ts string, iv interval, sign int64) string {
	months, days, us := iv.months*sign, iv.days*sign, iv.micros*sign
	var mods []string
	if months != 0 {
		mods = append(mods, fmt.Sprintf("'%+d months'", months), "'floor'")
	}
	if days != 0 {
		mods = append(mods, fmt.Sprintf("'%+d days'", days))
	}
	if us%1e6 == 0 && us != 0 {
		mods = append(mods, fmt.Sprintf("'%+d seconds'", us/1e6))
		us = 0
	}
	out := ts
	if len(mods) > 0 {
		out = fmt.Sprintf("(strftime('%%Y-%%m-%%d %%H:%%M:%%S', substr(%[1]s,1,19), %[2]s) || substr(%[1]s||'.000000',20,7))", ts, strings.Join(mods, ", "))
	}
	if us != 0 {
		out = sqlMicrosTS(fmt.Sprintf("%s + %d", sqlTSMicros(out), us))
	}
	return out
}

// sqlTSAddSeconds adds a computed interval (seconds, REAL) to a timestamp.
func sqlTSAddSeconds(ts, secs string, sign string) string {
	return sqlMicrosTS(fmt.Sprintf("%s %s CAST(round((%s) * 1000000) AS INTEGER)", sqlTSMicros(ts), sign, secs))
}

// sqlTSDiff subtracts two timestamps giving seconds (our interval form).
func sqlTSDiff(a, b string) string {
	return fmt.Sprintf("((%s - %s) / 1000000.0)", sqlTSMicros(a), sqlTSMicros(b))
}

// sqlDateTrunc truncates a stored timestamp to a unit.
func sqlDateTrunc(unit, ts string) (string, bool) {
	switch unit {
	case "microseconds":
		return ts, true
	case "milliseconds":
		return fmt.Sprintf("(substr(%s,1,23) || '000')", ts), true
	case "second":
		return fmt.Sprintf("(substr(%s,1,19) || '.000000')", ts), true
	case "minute":
		return fmt.Sprintf("(substr(%s,1,16) || ':00.000000')", ts), true
	case "hour":
		return fmt.Sprintf("(substr(%s,1,13) || ':00:00.000000')", ts), true
	case "day":
		return fmt.Sprintf("(substr(%s,1,10) || ' 00:00:00.000000')", ts), true
	case "week":
		return fmt.Sprintf("(date(substr(%s,1,10), '-6 days', 'weekday 1') || ' 00:00:00.000000')", ts), true
	case "month":
		return fmt.Sprintf("(substr(%s,1,7) || '-01 00:00:00.000000')", ts), true
	case "quarter":
		return fmt.Sprintf("(substr(%[1]s,1,5) || printf('%%02d', ((CAST(substr(%[1]s,6,2) AS INTEGER)-1)/3)*3+1) || '-01 00:00:00.000000')", ts), true
	case "year":
		return fmt.Sprintf("(substr(%s,1,4) || '-01-01 00:00:00.000000')", ts), true
	case "decade":
		return fmt.Sprintf("(printf('%%04d', (CAST(substr(%s,1,4) AS INTEGER)/10)*10) || '-01-01 00:00:00.000000')", ts), true
	}
	return "", false
}

// sqlExtract extracts a field from a stored timestamp or date; the result
// is numeric (integer or REAL).
func sqlExtract(field, ts string) (string, bool) {
	switch field {
	case "epoch":
		return fmt.Sprintf("(%s / 1000000.0)", sqlTSMicros(ts)), true
	case "year":
		return fmt.Sprintf("CAST(substr(%s,1,4) AS INTEGER)", ts), true
	case "month":
		return fmt.Sprintf("CAST(substr(%s,6,2) AS INTEGER)", ts), true
	case "day":
		return fmt.Sprintf("CAST(substr(%s,9,2) AS INTEGER)", ts), true
	case "hour":
		return fmt.Sprintf("CAST(substr(%s||' 00:00:00',12,2) AS INTEGER)", ts), true
	case "minute":
		return fmt.Sprintf("CAST(substr(%s||' 00:00:00',15,2) AS INTEGER)", ts), true
	case "second":
		return fmt.Sprintf("CAST(substr(%s||' 00:00:00',18) AS REAL)", ts), true
	case "milliseconds":
		return fmt.Sprintf("(CAST(substr(%s||' 00:00:00',18) AS REAL) * 1000)", ts), true
	case "microseconds":
		return fmt.Sprintf("CAST(round(CAST(substr(%s||' 00:00:00',18) AS REAL) * 1000000) AS INTEGER)", ts), true
	case "dow":
		return fmt.Sprintf("CAST(strftime('%%w', substr(%s,1,10)) AS INTEGER)", ts), true
	case "isodow":
		return fmt.Sprintf("CAST(strftime('%%u', substr(%s,1,10)) AS INTEGER)", ts), true
	case "doy":
		return fmt.Sprintf("CAST(strftime('%%j', substr(%s,1,10)) AS INTEGER)", ts), true
	case "week":
		return fmt.Sprintf("CAST(strftime('%%V', substr(%s,1,10)) AS INTEGER)", ts), true
	case "quarter":
		return fmt.Sprintf("((CAST(substr(%s,6,2) AS INTEGER)+2)/3)", ts), true
	case "decade":
		return fmt.Sprintf("(CAST(substr(%s,1,4) AS INTEGER)/10)", ts), true
	case "timezone", "timezone_hour", "timezone_minute":
		return "0", true
	}
	return "", false
}

// unitAliases normalises date_trunc/extract field names.
func normUnit(u string) string {
	u = strings.ToLower(strings.TrimSpace(u))
	switch u {
	case "microsecond", "us", "usec", "usecs":
		return "microseconds"
	case "millisecond", "ms", "msec", "msecs":
		return "milliseconds"
	case "seconds", "sec", "secs", "s":
		return "second"
	case "minutes", "min", "mins", "m":
		return "minute"
	case "hours", "hr", "hrs", "h":
		return "hour"
	case "days", "d":
		return "day"
	case "weeks", "w":
		return "week"
	case "months", "mon", "mons":
		return "month"
	case "years", "yr", "yrs", "y":
		return "year"
	case "quarters", "qtr":
		return "quarter"
	case "decades":
		return "decade"
	}
	return u
}
