package fileformat

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DateFormat is a compiled Java-style date pattern (java.text.SimpleDateFormat,
// as DataWorks' dateFormat takes it: "yyyy-MM-dd HH:mm:ss"). It formats and
// parses date and time values.
type DateFormat struct {
	pattern string
	parts   []datePart
}

type datePart struct {
	letter byte   // 0 for literal text
	width  int    // repeat count of the letter
	text   string // literal text
}

// dateLetters are the pattern letters flowgate understands.
var dateLetters = map[byte]string{
	'y': "year", 'M': "month", 'd': "day of month", 'H': "hour 0-23", 'h': "hour 1-12", 'm': "minute",
	's': "second", 'S': "fraction of a second", 'a': "AM/PM marker", 'E': "day name", 'D': "day of year",
	'X': "time zone offset", 'Z': "time zone offset (RFC 822)",
}

// LetterList names the pattern letters, for errors.
func LetterList() string {
	return "y (year), M (month), d (day), H (hour 0-23), h (hour 1-12), m (minute), s (second), S (fraction), a (AM/PM), E (day name), D (day of year), Z/X (offset); 'text' quotes literal text"
}

// ParseDateFormat compiles a pattern; a letter it does not know is an error
// naming it and the known ones.
func ParseDateFormat(p string) (*DateFormat, error) {
	f := &DateFormat{pattern: p}
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == '\'':
			j := i + 1
			var lit strings.Builder
			for {
				if j >= len(p) {
					return nil, fmt.Errorf("date_format %q: unterminated quoted text at position %d", p, i+1)
				}
				if p[j] == '\'' {
					if j+1 < len(p) && p[j+1] == '\'' {
						lit.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				lit.WriteByte(p[j])
				j++
			}
			if j == i+1 {
				lit.WriteByte('\'') // '' is a quote
			}
			f.parts = append(f.parts, datePart{text: lit.String()})
			i = j + 1
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			if _, ok := dateLetters[c]; !ok {
				return nil, fmt.Errorf("date_format %q: unknown pattern letter %q at position %d; known letters: %s", p, string(c), i+1, LetterList())
			}
			j := i
			for j < len(p) && p[j] == c {
				j++
			}
			f.parts = append(f.parts, datePart{letter: c, width: j - i})
			i = j
		default:
			f.parts = append(f.parts, datePart{text: string(c)})
			i++
		}
	}
	return f, nil
}

// String is the pattern.
func (f *DateFormat) String() string { return f.pattern }

var dayNames = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

func pad(dst []byte, v, w int) []byte {
	s := strconv.Itoa(v)
	for i := len(s); i < w; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// Append formats t.
func (f *DateFormat) Append(dst []byte, t time.Time) []byte {
	for _, p := range f.parts {
		if p.letter == 0 {
			dst = append(dst, p.text...)
			continue
		}
		switch p.letter {
		case 'y':
			if p.width == 2 {
				dst = pad(dst, t.Year()%100, 2)
			} else {
				dst = pad(dst, t.Year(), p.width)
			}
		case 'M':
			switch {
			case p.width >= 4:
				dst = append(dst, t.Month().String()...)
			case p.width == 3:
				dst = append(dst, t.Month().String()[:3]...)
			default:
				dst = pad(dst, int(t.Month()), p.width)
			}
		case 'd':
			dst = pad(dst, t.Day(), p.width)
		case 'D':
			dst = pad(dst, t.YearDay(), p.width)
		case 'H':
			dst = pad(dst, t.Hour(), p.width)
		case 'h':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			dst = pad(dst, h, p.width)
		case 'm':
			dst = pad(dst, t.Minute(), p.width)
		case 's':
			dst = pad(dst, t.Second(), p.width)
		case 'S':
			// Java's S counts milliseconds; flowgate reads the letters as
			// fraction digits (SSS = milliseconds, SSSSSS = microseconds).
			w := min(p.width, 9)
			frac := fmt.Sprintf("%09d", t.Nanosecond())[:w]
			dst = append(dst, frac...)
		case 'a':
			if t.Hour() < 12 {
				dst = append(dst, "AM"...)
			} else {
				dst = append(dst, "PM"...)
			}
		case 'E':
			n := dayNames[t.Weekday()]
			if p.width < 4 {
				n = n[:3]
			}
			dst = append(dst, n...)
		case 'X', 'Z':
			_, off := t.Zone()
			sign := byte('+')
			if off < 0 {
				sign, off = '-', -off
			}
			if off == 0 && p.letter == 'X' {
				dst = append(dst, 'Z')
				continue
			}
			dst = append(dst, sign)
			dst = pad(dst, off/3600, 2)
			if p.width >= 3 || p.letter == 'X' && p.width == 3 {
				dst = append(dst, ':')
			}
			dst = pad(dst, off%3600/60, 2)
		}
	}
	return dst
}

// Parse reads s in the pattern; fields the pattern lacks are zero (1 for
// month and day). Times without an offset are in loc.
func (f *DateFormat) Parse(s string, loc *time.Location) (time.Time, error) {
	bad := func(why string) (time.Time, error) {
		return time.Time{}, fmt.Errorf("%q does not match date_format %q: %s", s, f.pattern, why)
	}
	year, month, day, hour, minute, sec, nsec := 1970, 1, 1, 0, 0, 0, 0
	pm, hasAMPM, h12 := false, false, false
	var zone *time.Location
	i := 0
	num := func(maxw int) (int, bool) {
		j := i
		for j < len(s) && j-i < maxw && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i {
			return 0, false
		}
		v, _ := strconv.Atoi(s[i:j])
		i = j
		return v, true
	}
	for k, p := range f.parts {
		if p.letter == 0 {
			if !strings.HasPrefix(s[i:], p.text) {
				return bad(fmt.Sprintf("expected %q at character %d", p.text, i+1))
			}
			i += len(p.text)
			continue
		}
		// A numeric field followed directly by another numeric field has
		// a fixed width; otherwise it takes the digits there are.
		maxw := 10
		if k+1 < len(f.parts) && f.parts[k+1].letter != 0 && f.parts[k+1].letter != 'a' {
			maxw = p.width
		}
		var ok bool
		switch p.letter {
		case 'y':
			if year, ok = num(max(maxw, p.width)); ok && p.width == 2 {
				year += 2000
			}
		case 'M':
			if p.width >= 3 {
				ok = false
				for m := time.January; m <= time.December; m++ {
					name := m.String()
					if p.width == 3 {
						name = name[:3]
					}
					if strings.HasPrefix(strings.ToLower(s[i:]), strings.ToLower(name)) {
						month, ok = int(m), true
						i += len(name)
						break
					}
				}
			} else {
				month, ok = num(maxw)
			}
		case 'd':
			day, ok = num(maxw)
		case 'D':
			_, ok = num(maxw)
		case 'H':
			hour, ok = num(maxw)
		case 'h':
			hour, ok = num(maxw)
			h12 = true
		case 'm':
			minute, ok = num(maxw)
		case 's':
			sec, ok = num(maxw)
		case 'S':
			j := i
			for j < len(s) && s[j] >= '0' && s[j] <= '9' && (maxw == 10 || j-i < p.width) {
				j++
			}
			if ok = j > i; ok {
				frac := s[i:j]
				if len(frac) > 9 {
					frac = frac[:9]
				}
				nsec, _ = strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
				i = j
			}
		case 'a':
			hasAMPM = true
			switch {
			case strings.HasPrefix(strings.ToUpper(s[i:]), "AM"):
				ok = true
			case strings.HasPrefix(strings.ToUpper(s[i:]), "PM"):
				ok, pm = true, true
			}
			i += 2
		case 'E':
			ok = false
			for _, n := range dayNames {
				for _, cand := range []string{n, n[:3]} {
					if strings.HasPrefix(s[i:], cand) {
						i += len(cand)
						ok = true
						break
					}
				}
				if ok {
					break
				}
			}
		case 'X', 'Z':
			if i < len(s) && s[i] == 'Z' {
				zone, ok = time.UTC, true
				i++
				break
			}
			if i < len(s) && (s[i] == '+' || s[i] == '-') {
				sign := 1
				if s[i] == '-' {
					sign = -1
				}
				i++
				hh, ok1 := num(2)
				if i < len(s) && s[i] == ':' {
					i++
				}
				mm, _ := num(2)
				ok = ok1
				zone = time.FixedZone("", sign*(hh*3600+mm*60))
			}
		}
		if !ok {
			return bad(fmt.Sprintf("no %s at character %d", dateLetters[p.letter], i+1))
		}
	}
	if i != len(s) {
		return bad(fmt.Sprintf("unexpected %q at character %d", s[i:], i+1))
	}
	if h12 || hasAMPM {
		hour %= 12
		if pm {
			hour += 12
		}
	}
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return bad("a field is out of range")
	}
	if zone == nil {
		zone = loc
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, zone)
	if t.Day() != day {
		return bad("no such day")
	}
	return t, nil
}
