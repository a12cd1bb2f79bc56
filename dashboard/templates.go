package dashboard

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

var pageNames = []string{"overview", "jobs", "runs", "run", "cdc", "ddl", "cleanup", "datasources", "login", "error"}

func parsePages() (map[string]*template.Template, error) {
	base, err := template.New("base").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/stages.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard templates: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := t.ParseFS(templateFS, path.Join("templates", name+".html")); err != nil {
			return nil, fmt.Errorf("dashboard template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

var funcs = template.FuncMap{
	"num":    num,
	"dec":    dec,
	"ts":     ts,
	"size":   size,
	"str":    str,
	"hasVal": func(v any) bool { return v != nil },
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		return m
	},
	"pct":          func(v any) string { return dec(v, 1) + "%" },
	"progressText": progressText,
	"options":      optionList,
	"jsonText":     func(v any) string { return str(v) },
	"sqlLit":       pgString,
	"final":        func(v any) bool { s := str(v); return s != "" && !activeStatus(s) },
	"failedRun": func(v any) bool {
		s := str(v)
		return s == "failed" || s == "terminated" || s == "data_inconsistent"
	},
	"sortHref":  sortHref,
	"ariaSort":  ariaSort,
	"hrefWith":  hrefWith,
	"overviewT": func(ds string, keep url.Values) string { return hrefWith("/overview/"+url.PathEscape(ds), keep) },
	"pathEsc":   url.PathEscape,
	"queryEsc":  url.QueryEscape,
	"first":     func(n int, s []string) []string { return s[:min(n, len(s))] },
	"rest":      func(n int, s []string) []string { return s[min(n, len(s)):] },
	"cell":      func(r Row, c string) string { return cellText(r[c]) },
	"lagText": func(v any) string {
		if v == nil {
			return ""
		}
		return dec(toFloat(v)/1000, 1) + " s"
	},
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case int:
		return float64(x)
	case float64:
		return x
	case string:
		f, _ := strconv.ParseFloat(x, 64)
		return f
	}
	return 0
}

// num prints an integer with thousands separators.
func num(v any) string {
	if v == nil {
		return ""
	}
	return group(strconv.FormatInt(int64(math.Round(toFloat(v))), 10))
}

// dec prints a number with n decimals and thousands separators.
func dec(v any, n int) string {
	if v == nil {
		return ""
	}
	s := strconv.FormatFloat(toFloat(v), 'f', n, 64)
	ip, frac, _ := strings.Cut(s, ".")
	if frac != "" {
		return group(ip) + "." + frac
	}
	return group(ip)
}

func group(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func ts(v any) string {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format(time.DateTime)
	case nil:
		return ""
	}
	return str(v)
}

func size(v any) string {
	if v == nil {
		return ""
	}
	f := toFloat(v)
	units := []string{"B", "kB", "MB", "GB", "TB"}
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", int64(f))
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

// progressText is a stage's progress in words, the same the script writes.
func progressText(r Row) string {
	var b strings.Builder
	b.WriteString(num(r["rows"]))
	if r["total"] != nil {
		b.WriteString(" of " + num(r["total"]))
	}
	b.WriteString(" rows")
	if r["percent"] != nil {
		b.WriteString(" · " + dec(r["percent"], 1) + "%")
	}
	if r["rows_per_sec"] != nil {
		b.WriteString(" · " + num(r["rows_per_sec"]) + " rows/s")
	}
	return b.String()
}

type kv struct{ Key, Value string }

func optionList(v any) []kv {
	raw, ok := v.(json.RawMessage)
	if !ok {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	out := make([]kv, 0, len(m))
	for k, x := range m {
		out = append(out, kv{k, cellText(x)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func cellText(v any) string {
	switch x := v.(type) {
	case time.Time:
		return ts(x)
	case string:
		return x
	case nil:
		return ""
	case json.RawMessage:
		return string(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// hrefWith is base with the kept parameters and k=v overrides ("" removes).
func hrefWith(base string, keep url.Values, kvs ...string) string {
	u := url.Values{}
	for k, v := range keep {
		u[k] = append([]string(nil), v...)
	}
	for i := 0; i+1 < len(kvs); i += 2 {
		if kvs[i+1] == "" {
			u.Del(kvs[i])
		} else {
			u.Set(kvs[i], kvs[i+1])
		}
	}
	if len(u) == 0 {
		return base
	}
	return base + "?" + u.Encode()
}

// sortHref sorts by col, ascending first, descending on the second click.
func sortHref(base string, keep url.Values, q overviewQuery, col string) string {
	v := col
	if q.Sort == col && !q.Desc {
		v = "-" + col
	}
	return hrefWith(base, keep, "sort", v)
}

func ariaSort(q overviewQuery, col string) string {
	if q.Sort != col {
		return "none"
	}
	if q.Desc {
		return "descending"
	}
	return "ascending"
}
