// Package schedule fires sync jobs on their schedules: CRON (five fields,
// robfig/cron's standard parser), EVERY 'n unit' and ONCE. It keeps the next
// ten fire times in the catalog for dataflow.schedules.
package schedule

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/flowgate/flowgate/catalog"
)

// Error is a bad schedule expression; Offset is the byte offset of the
// offending part inside the expression.
type Error struct {
	Offset  int
	Message string
	Hint    string
}

func (e *Error) Error() string { return e.Message }

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// fieldNames name the five cron fields for messages.
var fieldNames = []string{"minute", "hour", "day of month", "month", "day of week"}

const cronHint = "A cron expression has five fields: minute hour day-of-month month day-of-week, e.g. '*/5 * * * *' or '0 2 * * *'."

// Parse parses a schedule of kind cron or every; once has no expression.
func Parse(kind, expr string) (cron.Schedule, error) {
	switch kind {
	case catalog.ScheduleCron:
		return parseCron(expr)
	case catalog.ScheduleEvery:
		d, err := ParseEvery(expr)
		if err != nil {
			return nil, err
		}
		return cron.Every(d), nil
	}
	return nil, &Error{Message: fmt.Sprintf("schedule kind %q has no expression", kind)}
}

func parseCron(expr string) (cron.Schedule, error) {
	s, err := parser.Parse(expr)
	if err == nil {
		return s, nil
	}
	trimmed := strings.TrimSpace(expr)
	if strings.HasPrefix(trimmed, "@") {
		return nil, &Error{Offset: strings.Index(expr, "@"), Message: fmt.Sprintf("invalid cron expression %q: %v", expr, err), Hint: cronHint}
	}
	// Find the field at fault so the error can point at it.
	type field struct {
		text string
		off  int
	}
	var fields []field
	for i := 0; i < len(expr); {
		for i < len(expr) && (expr[i] == ' ' || expr[i] == '\t') {
			i++
		}
		start := i
		for i < len(expr) && expr[i] != ' ' && expr[i] != '\t' {
			i++
		}
		if i > start {
			fields = append(fields, field{expr[start:i], start})
		}
	}
	if len(fields) != 5 {
		off := 0
		if len(fields) > 5 {
			off = fields[5].off
		}
		return nil, &Error{Offset: off, Message: fmt.Sprintf("invalid cron expression %q: expected 5 fields, found %d", expr, len(fields)), Hint: cronHint}
	}
	for i, f := range fields {
		probe := []string{"*", "*", "*", "*", "*"}
		probe[i] = f.text
		if _, perr := parser.Parse(strings.Join(probe, " ")); perr != nil {
			return nil, &Error{Offset: f.off, Message: fmt.Sprintf("invalid cron expression %q: %s field %q: %v", expr, fieldNames[i], f.text, perr), Hint: cronHint}
		}
	}
	return nil, &Error{Message: fmt.Sprintf("invalid cron expression %q: %v", expr, err), Hint: cronHint}
}

// ParseEvery reads "n unit" (seconds, minutes, hours, days; singular or
// plural) or a Go duration such as "90s"; at least one second.
func ParseEvery(expr string) (time.Duration, error) {
	bad := &Error{Message: fmt.Sprintf("invalid interval %q", expr), Hint: "Write EVERY '30 seconds', '5 minutes', '2 hours' or '1 day'."}
	s := strings.TrimSpace(strings.ToLower(expr))
	var d time.Duration
	if f := strings.Fields(s); len(f) == 2 {
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n <= 0 {
			return 0, bad
		}
		unit := map[string]time.Duration{"second": time.Second, "minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}[strings.TrimSuffix(f[1], "s")]
		if unit == 0 {
			return 0, bad
		}
		d = time.Duration(n) * unit
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, bad
		}
	}
	if d < time.Second {
		bad.Message = fmt.Sprintf("interval %q is shorter than one second", expr)
		return 0, bad
	}
	return d, nil
}

// NextFires lists the next n fire times after from.
func NextFires(s cron.Schedule, from time.Time, n int) []time.Time {
	out := make([]time.Time, 0, n)
	t := from
	for range n {
		t = s.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}

// FireFunc starts a run of job; errors are logged (a fire while the job is
// still running is skipped).
type FireFunc func(ctx context.Context, job string) error

// Scheduler keeps one timer per active scheduled job.
type Scheduler struct {
	cat  *catalog.Catalog
	fire FireFunc
	log  *slog.Logger
	now  func() time.Time

	mu     sync.Mutex
	timers map[string]*time.Timer
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New makes a Scheduler; Start arms it.
func New(cat *catalog.Catalog, fire FireFunc, log *slog.Logger) *Scheduler {
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Scheduler{cat: cat, fire: fire, log: log, now: time.Now, timers: map[string]*time.Timer{}, ctx: ctx, cancel: cancel}
}

// Reload re-reads every schedule from the catalog and re-arms the timers.
// Call it after any change to a job's schedule or state.
func (s *Scheduler) Reload(ctx context.Context) error {
	jobs, err := s.cat.ScheduledJobs(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return nil
	}
	for name, t := range s.timers {
		t.Stop()
		delete(s.timers, name)
	}
	for _, j := range jobs {
		s.arm(ctx, j)
	}
	return nil
}

// arm sets j's timer and records its next fires; s.mu is held.
func (s *Scheduler) arm(ctx context.Context, j *catalog.Job) {
	now := s.now()
	if j.ScheduleState != catalog.ScheduleActive {
		s.record(ctx, j.Name, "", nil)
		return
	}
	var next []time.Time
	if j.ScheduleKind == catalog.ScheduleOnce {
		if j.LastFire == "" {
			next = []time.Time{now}
		}
	} else {
		sched, err := Parse(j.ScheduleKind, j.ScheduleExpr)
		if err != nil {
			s.log.Error("bad schedule in catalog", "job", j.Name, "err", err)
			return
		}
		next = NextFires(sched, now, 10)
	}
	s.record(ctx, j.Name, "", next)
	if len(next) == 0 {
		return
	}
	name := j.Name
	if t := s.timers[name]; t != nil {
		t.Stop() // a fire re-arming after a Reload must not leave two timers
	}
	s.timers[name] = time.AfterFunc(time.Until(next[0]), func() { s.fired(name) })
}

func (s *Scheduler) record(ctx context.Context, job, last string, next []time.Time) {
	fires := make([]string, len(next))
	for i, t := range next {
		fires[i] = catalog.FormatTime(t)
	}
	if err := s.cat.RecordFire(context.WithoutCancel(ctx), job, last, fires); err != nil {
		s.log.Error("record schedule", "job", job, "err", err)
	}
}

func (s *Scheduler) fired(job string) {
	s.wg.Add(1)
	defer s.wg.Done()
	if s.ctx.Err() != nil {
		return
	}
	j, err := s.cat.GetJob(s.ctx, job)
	if err != nil || j.ScheduleState != catalog.ScheduleActive {
		return
	}
	s.record(s.ctx, job, catalog.Now(), nil)
	if err := s.fire(s.ctx, job); err != nil {
		s.log.Warn("scheduled run not started", "job", job, "err", err)
	}
	if j, err = s.cat.GetJob(s.ctx, job); err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() == nil {
		s.arm(s.ctx, j)
	}
}

// Stop disarms every timer and waits for fires in progress to hand off.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	s.cancel()
	for _, t := range s.timers {
		t.Stop()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
