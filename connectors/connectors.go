// Package connectors declares what every datasource type offers: its options
// (one declaration drives validation, error messages, masking and the docs)
// and a minimal Connector with small capability interfaces, in the shape of
// PeerDB's flow/connectors. Each database lives in its own subpackage;
// connectors/all lists them.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Connector is what every opened datasource is. Capabilities are separate
// interfaces (Tester, ...); ask for one with As.
type Connector interface {
	Close() error
}

// TestResult is what a successful connection test reports.
type TestResult struct {
	ServerVersion string
}

// Tester checks that a datasource is reachable with its options.
type Tester interface {
	Test(ctx context.Context) (TestResult, error)
}

// DefaultTestTimeout bounds a connection test when the caller's context has
// no deadline, so TEST DATASOURCE never hangs on a black-holed host.
const DefaultTestTimeout = 10 * time.Second

// As returns c's capability T, or an error wrapping errors.ErrUnsupported
// when c does not have it.
func As[T any](c Connector) (T, error) {
	if v, ok := c.(T); ok {
		return v, nil
	}
	var zero T
	return zero, fmt.Errorf("%T does not support %T: %w", c, (*T)(nil), errors.ErrUnsupported)
}

// Type is one datasource type: its name, its options and how to open it.
type Type struct {
	Name        string
	Description string
	Options     []Option
	// Check, when set, runs after per-option checks on the filled-in
	// options, for rules that involve several options.
	Check func(opts map[string]string) error
	// Open gets options that already passed Validate.
	Open func(opts map[string]string) (Connector, error)
}

// Option returns the declaration of option name.
func (t Type) Option(name string) (Option, bool) {
	for _, o := range t.Options {
		if o.Name == name {
			return o, true
		}
	}
	return Option{}, false
}

// OptionNames lists t's option names in declaration order.
func (t Type) OptionNames() []string {
	names := make([]string, len(t.Options))
	for i, o := range t.Options {
		names[i] = o.Name
	}
	return names
}

// IsSecret reports whether option key of t is a secret (encrypted at rest,
// masked when shown).
func (t Type) IsSecret(key string) bool {
	o, ok := t.Option(strings.ToLower(key))
	return ok && o.Secret
}

// Secrets returns the non-empty secret values in opts, for scrubbing.
func (t Type) Secrets(opts map[string]string) []string {
	var s []string
	for k, v := range opts {
		if v != "" && t.IsSecret(k) {
			s = append(s, v)
		}
	}
	return s
}

var (
	regMu sync.RWMutex
	reg   = map[string]Type{}
)

// Register adds a type to the process-wide registry; all.Register adds the
// built-in ones. Registering a name twice panics: it is a programming error.
func Register(t Type) {
	regMu.Lock()
	defer regMu.Unlock()
	name := strings.ToLower(t.Name)
	if _, dup := reg[name]; dup {
		panic("connectors: type " + name + " registered twice")
	}
	reg[name] = t
}

// Lookup finds a registered type by name (case-insensitive, as SQL keywords).
func Lookup(name string) (Type, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	t, ok := reg[strings.ToLower(name)]
	return t, ok
}

// Names lists registered type names, sorted.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	names := make([]string, 0, len(reg))
	for n := range reg {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// IsSecretKey reports whether key is a secret option of any registered type;
// for masking where the type is not at hand. Before any type is registered
// (all.Register) it fails closed: every key counts as secret, so a missed
// registration masks too much rather than showing secrets in clear.
func IsSecretKey(key string) bool {
	regMu.RLock()
	defer regMu.RUnlock()
	if len(reg) == 0 {
		return true
	}
	for _, t := range reg {
		if t.IsSecret(key) {
			return true
		}
	}
	return false
}

// Test validates opts, opens a connector of type t, runs its Test and closes
// it: the whole of TEST DATASOURCE apart from timing. Errors never contain a
// secret option value.
func Test(ctx context.Context, t Type, opts map[string]string) (TestResult, error) {
	full, err := t.Validate(opts)
	if err != nil {
		return TestResult{}, err
	}
	secrets := t.Secrets(full)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTestTimeout)
		defer cancel()
	}
	c, err := t.Open(full)
	if err != nil {
		return TestResult{}, ScrubError(fmt.Errorf("open %s datasource: %w", t.Name, err), secrets...)
	}
	defer c.Close()
	tester, err := As[Tester](c)
	if err != nil {
		return TestResult{}, err
	}
	res, err := tester.Test(ctx)
	return res, ScrubError(err, secrets...)
}
