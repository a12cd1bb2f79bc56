package connectors

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Masked replaces every secret value shown to a user.
const Masked = "********"

// Kind says how an option's value is checked.
type Kind int

const (
	KindString Kind = iota // any text
	KindPort               // integer 1..65535
	KindBool               // true/false (also on/off, yes/no, 1/0), stored as true/false
	KindEnum               // one of Option.Values
)

// Option declares one datasource option. The same declaration drives
// validation, error messages, masking and docs/datasources.md.
type Option struct {
	Name        string
	Required    bool
	Default     string
	Secret      bool
	Description string
	Example     string
	Kind        Kind
	Values      []string // allowed values for KindEnum
	// Check, when set, validates the value further; its error text becomes
	// the detail of a 22023 error.
	Check func(v string) error
	// HostPath says the value names a file or directory on the gateway's
	// host; the executor guards such options (section 10 of the contract).
	HostPath PathKind
}

// PathKind says what a host-path option names.
type PathKind int

const (
	NotPath  PathKind = iota
	PathFile          // one file
	PathDir           // a directory and everything inside it
)

// HostPaths returns t's host-path options present in opts, by name.
func (t Type) HostPaths(opts map[string]string) map[string]PathKind {
	var m map[string]PathKind
	for _, o := range t.Options {
		if o.HostPath != NotPath && opts[o.Name] != "" {
			if m == nil {
				m = map[string]PathKind{}
			}
			m[o.Name] = o.HostPath
		}
	}
	return m
}

// invalidParam builds the SQLSTATE 22023 error every option problem uses.
func invalidParam(hint, format string, args ...any) *pgconn.PgError {
	return &pgconn.PgError{Severity: "ERROR", Code: "22023", Message: fmt.Sprintf(format, args...), Hint: hint}
}

func (t Type) validHint() string {
	return fmt.Sprintf("valid options for datasource type %s: %s", t.Name, strings.Join(t.OptionNames(), ", "))
}

func (t Type) requiredHint() string {
	var req []string
	for _, o := range t.Options {
		if o.Required {
			req = append(req, o.Name)
		}
	}
	return fmt.Sprintf("required options for datasource type %s: %s", t.Name, strings.Join(req, ", "))
}

// Validate checks opts against t's declarations and returns a new map with
// keys lower-cased, defaults filled in and booleans normalised. Every
// problem is a *pgconn.PgError with SQLSTATE 22023 and a hint naming the
// valid options.
func (t Type) Validate(opts map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(t.Options))
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic: the first bad key is always the same one
	for _, k := range keys {
		name := strings.ToLower(k)
		if _, ok := t.Option(name); !ok {
			return nil, invalidParam(t.validHint(), "unknown option %q for datasource type %s", k, t.Name)
		}
		if _, dup := out[name]; dup {
			return nil, invalidParam(t.validHint(), "option %q given more than once for datasource type %s", name, t.Name)
		}
		out[name] = opts[k]
	}
	for _, o := range t.Options {
		v, given := out[o.Name]
		if !given || v == "" {
			if o.Required {
				if given {
					return nil, invalidParam(t.requiredHint(), "option %q for datasource type %s must not be empty", o.Name, t.Name)
				}
				return nil, invalidParam(t.requiredHint(), "missing required option %q for datasource type %s", o.Name, t.Name)
			}
			if o.Default != "" {
				out[o.Name] = o.Default
			}
			continue
		}
		nv, err := o.check(v)
		if err != nil {
			// Never echo a secret back in an error.
			shown := strconv.Quote(v)
			if o.Secret {
				shown = Masked
			}
			return nil, &pgconn.PgError{Severity: "ERROR", Code: "22023",
				Message: fmt.Sprintf("invalid value %s for option %q of datasource type %s: %v", shown, o.Name, t.Name, err),
				Hint:    o.hint()}
		}
		out[o.Name] = nv
	}
	if t.Check != nil {
		if err := t.Check(out); err != nil {
			return nil, invalidParam("", "invalid options for datasource type %s: %v", t.Name, err)
		}
	}
	return out, nil
}

// ValidatePartial validates the result of ALTER ... SET OPTIONS: the stored
// options old overlaid with the changes in set.
func (t Type) ValidatePartial(old, set map[string]string) (map[string]string, error) {
	merged := make(map[string]string, len(old)+len(set))
	for k, v := range old {
		merged[strings.ToLower(k)] = v
	}
	for k, v := range set {
		merged[strings.ToLower(k)] = v
	}
	return t.Validate(merged)
}

func (o Option) check(v string) (string, error) {
	switch o.Kind {
	case KindPort:
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("not a port number (1-65535)")
		}
		v = strconv.Itoa(n)
	case KindBool:
		b, ok := parseBool(v)
		if !ok {
			return "", fmt.Errorf("not a boolean (true or false)")
		}
		v = strconv.FormatBool(b)
	case KindEnum:
		found := false
		for _, a := range o.Values {
			if strings.EqualFold(a, v) {
				v, found = a, true
				break
			}
		}
		if !found {
			return "", fmt.Errorf("must be one of %s", strings.Join(o.Values, ", "))
		}
	}
	if o.Check != nil {
		if err := o.Check(v); err != nil {
			return "", err
		}
	}
	return v, nil
}

func (o Option) hint() string {
	switch o.Kind {
	case KindEnum:
		return fmt.Sprintf("%s is one of: %s", o.Name, strings.Join(o.Values, ", "))
	case KindPort:
		return o.Name + " is a TCP port number"
	case KindBool:
		return o.Name + " is true or false"
	}
	if o.Example != "" {
		return fmt.Sprintf("example: %s '%s'", o.Name, o.Example)
	}
	return ""
}

// parseBool accepts the spellings PostgreSQL accepts for booleans.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "t", "yes", "y", "on", "1":
		return true, true
	case "false", "f", "no", "n", "off", "0":
		return false, true
	}
	return false, false
}

// Mask returns a copy of opts with t's secret values replaced by Masked.
func Mask(opts map[string]string, t Type) map[string]string {
	out := make(map[string]string, len(opts))
	for k, v := range opts {
		if t.IsSecret(k) {
			v = Masked
		}
		out[k] = v
	}
	return out
}

// MaskText replaces each secret in s by Masked where it stands as a whole
// token: bounded by the start or end of s or by a character that is not a
// letter, digit or '_'. Its URL-escaped forms (a DSN a server echoed) are
// masked the same way. Text around a secret is never changed, so a short
// password such as "x" or "public" leaves "text", "public_t" and
// "republic" alone; "public.t" does hold "public" as a token and becomes
// "********.t".
func MaskText(s string, secrets ...string) string {
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		for _, form := range uniqueForms(secret) {
			s = maskToken(s, form)
		}
	}
	return s
}

// uniqueForms is the secret as written and as a URL's query, path and
// userinfo parts escape it.
func uniqueForms(secret string) []string {
	userinfo := strings.TrimPrefix(url.UserPassword("u", secret).String(), "u:")
	forms := []string{secret}
	for _, f := range []string{url.QueryEscape(secret), url.PathEscape(secret), userinfo} {
		if !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	return forms
}

func isWordByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= 0x80
}

// maskToken masks the whole-token occurrences of tok in s. Non-ASCII bytes
// count as letters, so a secret inside a longer UTF-8 word is left alone.
func maskToken(s, tok string) string {
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, tok)
		if i < 0 {
			break
		}
		end := i + len(tok)
		before := len(s) - len(rest) + i // index of the match in s
		startOK := before == 0 || !isWordByte(s[before-1]) || !isWordByte(tok[0])
		endOK := end == len(rest) || !isWordByte(rest[end]) || !isWordByte(tok[len(tok)-1])
		if startOK && endOK {
			b.WriteString(rest[:i])
			b.WriteString(Masked)
			rest = rest[end:]
			continue
		}
		b.WriteString(rest[:i+1])
		rest = rest[i+1:]
	}
	if b.Len() == 0 {
		return s
	}
	b.WriteString(rest)
	return b.String()
}

// ScrubError returns err with the secrets masked by MaskText. A safety net:
// connections are configured with structs, so drivers have no DSN holding a
// password to echo, but a server could still quote one. When something was
// masked, the result keeps what callers ask of errors: a *pgconn.PgError in
// the chain comes back as a masked copy with its SQLSTATE and other fields,
// and context cancellation stays visible to errors.Is; the rest of the
// original chain is dropped so nobody can unwrap the secret.
func ScrubError(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	scrubbed := MaskText(msg, secrets...)
	if scrubbed == msg {
		return err
	}
	out := &scrubbedError{msg: scrubbed}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		cp := *pe
		for _, f := range []*string{&cp.Message, &cp.Detail, &cp.Hint, &cp.Where, &cp.InternalQuery, &cp.Routine} {
			*f = MaskText(*f, secrets...)
		}
		out.kept = append(out.kept, &cp)
	}
	for _, sentinel := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, sentinel) {
			out.kept = append(out.kept, sentinel)
		}
	}
	return out
}

type scrubbedError struct {
	msg  string
	kept []error
}

func (e *scrubbedError) Error() string   { return e.msg }
func (e *scrubbedError) Unwrap() []error { return e.kept }
