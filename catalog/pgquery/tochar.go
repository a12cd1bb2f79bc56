package pgquery

import (
	"strconv"
	"strings"
	"time"
)

// fnToChar serves to_char(timestamp | timestamptz | date, text): the
// template is applied in Go (fg_to_char), as PostgreSQL's formatting.c
// does. Numbers are not formatted (no such function).
func fnToChar(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 2, 2); err != nil {
		return expr{}, err
	}
	v := c.args[0]
	if v.typ == oidUnknown {
		return expr{}, t.noSuchFunc(c)
	}
	if !isTimestamp(v.typ) && v.typ != oidDate {
		return expr{}, t.noSuchFunc(c)
	}
	f, err := t.argAs(c, 1, oidText)
	if err != nil {
		return f, err
	}
	// A date goes to to_char(timestamptz), as PostgreSQL casts it.
	tz := "0"
	if v.typ == oidTimestamptz || v.typ == oidDate {
		tz = "1"
	}
	return expr{sql: "fg_to_char(" + v.sql + ", " + f.sql + ", " + tz + ")", typ: oidText}, nil
}

// fgToChar formats a stored timestamp ("2006-01-02 15:04:05.999999") or
// date by a PostgreSQL to_char template; withZone says it is a
// timestamptz (the session's zone is UTC: TZ is UTC, OF +00).
func fgToChar(v any, format any, withZone int64) any {
	s, ok := v.(string)
	if !ok || format == nil {
		return nil
	}
	f, _ := format.(string)
	ts, err := time.Parse("2006-01-02 15:04:05.999999", s)
	if err != nil {
		if ts, err = time.Parse("2006-01-02", s); err != nil {
			return nil
		}
	}
	return toChar(ts, f, withZone != 0)
}

// dchKeywords are the template patterns, longest first where one is a
// prefix of another (formatting.c's DCH_keywords order).
var dchKeywords = []string{
	"A.D.", "A.M.", "AD", "AM", "B.C.", "BC", "CC", "DAY", "DDD", "DD", "DY", "Day", "Dy", "D",
	"FF1", "FF2", "FF3", "FF4", "FF5", "FF6", "FX", "HH24", "HH12", "HH", "IDDD", "ID", "IW", "IYYY", "IYY", "IY", "I",
	"J", "MI", "MM", "MONTH", "MON", "MS", "Month", "Mon", "OF", "P.M.", "PM", "Q", "RM", "SSSSS", "SSSS", "SS",
	"TZH", "TZM", "TZ", "US", "WW", "W", "Y,YYY", "YYYY", "YYY", "YY", "Y",
	"a.d.", "a.m.", "ad", "am", "b.c.", "bc", "cc", "day", "ddd", "dd", "dy", "d", "ff1", "ff2", "ff3", "ff4", "ff5", "ff6",
	"fx", "hh24", "hh12", "hh", "iddd", "id", "iw", "iyyy", "iyy", "iy", "i", "j", "mi", "mm", "month", "mon", "ms", "of",
	"p.m.", "pm", "q", "rm", "sssss", "ssss", "ss", "tzh", "tzm", "tz", "us", "ww", "w", "y,yyy", "yyyy", "yyy", "yy", "y",
}

var romanMonths = []string{"I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"}

func toChar(ts time.Time, f string, withZone bool) string {
	var b strings.Builder
	for i := 0; i < len(f); {
		// Modifiers before a pattern: FM (no padding), TM (names are
		// not translated here anyway).
		fm := false
		for {
			switch {
			case hasPrefixFold(f[i:], "FM"):
				fm, i = true, i+2
				continue
			case hasPrefixFold(f[i:], "TM"):
				i += 2
				continue
			}
			break
		}
		if i >= len(f) {
			break
		}
		kw := ""
		for _, k := range dchKeywords {
			if strings.HasPrefix(f[i:], k) {
				kw = k
				break
			}
		}
		if kw == "" {
			switch c := f[i]; {
			case c == '"':
				// Quoted text is copied; \" inside stays a quote.
				j := i + 1
				for ; j < len(f) && f[j] != '"'; j++ {
					if f[j] == '\\' && j+1 < len(f) {
						j++
					}
					b.WriteByte(f[j])
				}
				i = j + 1
			case c == '\\' && i+1 < len(f) && f[i+1] == '"':
				b.WriteByte('"')
				i += 2
			default:
				b.WriteByte(c)
				i++
			}
			continue
		}
		i += len(kw)
		out, num := dchField(ts, kw, fm, withZone)
		b.WriteString(out)
		// TH / th: the ordinal suffix of a number.
		if num >= 0 && (strings.HasPrefix(f[i:], "TH") || strings.HasPrefix(f[i:], "th")) {
			suf := ordinal(num)
			if f[i] == 'T' {
				suf = strings.ToUpper(suf)
			}
			b.WriteString(suf)
			i += 2
		}
	}
	return b.String()
}

func hasPrefixFold(s, p string) bool {
	return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p)
}

// dchField renders one pattern; num is its number for a TH suffix (-1
// when it is not a number).
func dchField(ts time.Time, kw string, fm, withZone bool) (string, int) {
	pad := func(n, width int) (string, int) {
		s := strconv.Itoa(abs(n))
		if !fm && len(s) < width {
			s = strings.Repeat("0", width-len(s)) + s
		}
		if n < 0 {
			s = "-" + s
		}
		return s, abs(n)
	}
	name := func(full string, upper, lower bool, width int) (string, int) {
		switch {
		case upper:
			full = strings.ToUpper(full)
		case lower:
			full = strings.ToLower(full)
		}
		if !fm && len(full) < width {
			full += strings.Repeat(" ", width-len(full))
		}
		return full, -1
	}
	// marker is AM/PM or AD/BC: second when it holds, in the pattern's case.
	marker := func(second bool, first, other string) (string, int) {
		s := first
		if second {
			s = other
		}
		if strings.ToLower(kw) == kw {
			s = strings.ToLower(s)
		}
		return s, -1
	}
	// yearDigits is YYYY (the whole year) or its last 3, 2 or 1 digits.
	yearDigits := func(y, n int) (string, int) {
		if n < 4 {
			y %= []int{10, 100, 1000}[n-1]
		}
		return pad(y, n)
	}
	year := ts.Year()
	hour12 := ts.Hour() % 12
	if hour12 == 0 {
		hour12 = 12
	}
	isoYear, isoWeek := ts.ISOWeek()
	upper := strings.ToUpper(kw) == kw
	lower := strings.ToLower(kw) == kw
	switch strings.ToUpper(kw) {
	case "HH", "HH12":
		return pad(hour12, 2)
	case "HH24":
		return pad(ts.Hour(), 2)
	case "MI":
		return pad(ts.Minute(), 2)
	case "SS":
		return pad(ts.Second(), 2)
	case "SSSS", "SSSSS":
		return pad(ts.Hour()*3600+ts.Minute()*60+ts.Second(), 1)
	case "MS":
		return pad(ts.Nanosecond()/1e6, 3)
	case "US":
		return pad(ts.Nanosecond()/1e3, 6)
	case "FF1", "FF2", "FF3", "FF4", "FF5", "FF6":
		d := int(kw[2] - '0')
		us := ts.Nanosecond() / 1e3
		for k := 6; k > d; k-- {
			us /= 10
		}
		return pad(us, d)
	case "AM", "PM":
		return marker(ts.Hour() >= 12, "AM", "PM")
	case "A.M.", "P.M.":
		return marker(ts.Hour() >= 12, "A.M.", "P.M.")
	case "AD", "BC":
		return marker(year <= 0, "AD", "BC")
	case "A.D.", "B.C.":
		return marker(year <= 0, "A.D.", "B.C.")
	case "Y,YYY":
		s, n := pad(year, 4)
		if len(s) > 3 {
			s = s[:len(s)-3] + "," + s[len(s)-3:]
		}
		return s, n
	case "YYYY", "YYY", "YY", "Y":
		return yearDigits(year, len(kw))
	case "IYYY", "IYY", "IY", "I":
		return yearDigits(isoYear, len(kw))
	case "CC":
		cc := (year + 99) / 100
		return pad(cc, 2)
	case "Q":
		return pad((int(ts.Month())-1)/3+1, 1)
	case "MM":
		return pad(int(ts.Month()), 2)
	case "MONTH":
		return name(ts.Month().String(), upper, lower, 9)
	case "MON":
		return name(ts.Month().String()[:3], upper, lower, 0)
	case "RM":
		r := romanMonths[ts.Month()-1]
		if lower {
			r = strings.ToLower(r)
		}
		if !fm && len(r) < 4 {
			r += strings.Repeat(" ", 4-len(r))
		}
		return r, -1
	case "DAY":
		return name(ts.Weekday().String(), upper, lower, 9)
	case "DY":
		return name(ts.Weekday().String()[:3], upper, lower, 0)
	case "DDD":
		return pad(ts.YearDay(), 3)
	case "IDDD":
		return pad((isoWeek-1)*7+isoWeekday(ts), 3)
	case "DD":
		return pad(ts.Day(), 2)
	case "D":
		return pad(int(ts.Weekday())+1, 1)
	case "ID":
		return pad(isoWeekday(ts), 1)
	case "W":
		return pad((ts.Day()-1)/7+1, 1)
	case "WW":
		return pad((ts.YearDay()-1)/7+1, 2)
	case "IW":
		return pad(isoWeek, 2)
	case "J":
		// Days since 4714-11-24 BC (proleptic Gregorian), as PostgreSQL's date2j.
		j := int(time.Date(ts.Year(), ts.Month(), ts.Day(), 0, 0, 0, 0, time.UTC).Unix()/86400) + 2440588
		return pad(j, 1)
	case "TZ":
		if !withZone {
			return "", -1
		}
		if lower {
			return "utc", -1
		}
		return "UTC", -1
	case "OF":
		if !withZone {
			return "", -1
		}
		return "+00", -1
	case "TZH":
		if !withZone {
			return "", -1
		}
		return "+00", -1
	case "TZM":
		if !withZone {
			return "", -1
		}
		return "00", -1
	case "FX":
		return "", -1
	}
	return kw, -1
}

func isoWeekday(ts time.Time) int {
	if ts.Weekday() == time.Sunday {
		return 7
	}
	return int(ts.Weekday())
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// ordinal is English's suffix for n: st, nd, rd or th.
func ordinal(n int) string {
	if n%100 >= 11 && n%100 <= 13 {
		return "th"
	}
	switch n % 10 {
	case 1:
		return "st"
	case 2:
		return "nd"
	case 3:
		return "rd"
	}
	return "th"
}
