package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/session"
)

// Schedule is the timer function's schedule (a six-field NCRONTAB, parsed by the caller).
type Schedule interface {
	Next(time.Time) time.Time
}

// DefaultMaxTicks bounds the sweeps one clock line may run.
const DefaultMaxTicks = 100_000

// Replayer drives a pipeline from recorded sessions.
type Replayer struct {
	Pipeline *guard.Pipeline // its Reader is replaced, per session, by the session's arm lines
	Schedule Schedule        // when the sweep runs; nil runs it only at each clock line
	// Reconcile is when the reconcile runs (functions/reconcile/function.json;
	// nil never): a replay has no Resource Graph, so it re-checks, from the
	// session's arm lines, the resources with an open or exempt finding
	// (guard.Pipeline.RecheckOpenAmong) whose answer the session changed since
	// the reconcile before: an arm line (or a remediation's write) observed
	// since then, of the resource or a child of it. A resource whose answer did
	// not change would be judged on the same state again; skipping it keeps a
	// replay linear in its length while the estate it builds grows (issue 16).
	Reconcile Schedule
	Errors    io.Writer // where bad lines are reported, with their line numbers
	MaxTicks  int       // bound on sweeps per clock line; DefaultMaxTicks when 0
	// Progress, when set, is told after every line how far a session is (the
	// command line decides by time when to show it).
	Progress func(name string, lines int)
	// Bind, when set, is given each session's ARM before the session runs, so
	// that parts beyond the pipeline's Reader (the remediation executor) read
	// and write the same recorded resources.
	Bind func(arm *ARM)
}

// Stats counts what a replay did.
type Stats struct {
	Lines, BadLines, Sweeps, Reconciles int
	guard.Summary
}

// Run replays one session. A malformed line is reported and skipped; an error is
// returned only when the pipeline itself fails (the store), or reading fails.
func (r *Replayer) Run(ctx context.Context, name string, in io.Reader) (Stats, error) {
	var st Stats
	var clock time.Time
	var lastClock time.Time // the time of the last clock line: the reconcile's ticks after it are due
	arm := NewARM(func() time.Time { return clock })
	p := *r.Pipeline
	p.Reader = arm
	if r.Bind != nil {
		r.Bind(arm)
	}
	rd := session.NewReader(in)
	for {
		l, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return st, nil
		}
		bad, isBad := errors.AsType[*session.BadLineError](err)
		if err != nil && !isBad {
			return st, fmt.Errorf("%s:%d: %w", name, rd.N(), err)
		}
		if err := ctx.Err(); err != nil {
			return st, err
		}
		st.Lines++
		if r.Progress != nil {
			r.Progress(name, st.Lines)
		}
		if isBad {
			st.BadLines++
			r.report("%s:%d: %v; line skipped", name, bad.Line, bad.Err)
			continue
		}
		n := rd.N()
		prev := clock
		if l.At.After(clock) {
			clock = l.At
		}
		var sum guard.Summary
		switch l.Source {
		case session.SourceEventHub:
			sum, err = p.Ingest(ctx, guard.SourceEventHub, l.Body, clock)
		case session.SourceEventGrid:
			sum, err = p.Ingest(ctx, guard.SourceEventGrid, l.Body, clock)
		case session.SourceARM:
			arm.Observe(l)
		case session.SourceClock:
			var n ticks
			n, sum, err = r.tick(ctx, &p, arm, prev, lastClock, clock, func(t time.Time) { clock = t })
			lastClock = clock
			st.Sweeps += n.sweeps
			st.Reconciles += n.reconciles
		}
		st.Summary.Add(sum)
		if err != nil {
			return st, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		if sum.Rejected > 0 {
			r.report("%s:%d: %d item(s) could not be read and were kept as poison", name, n, sum.Rejected)
		}
	}
}

// ticks counts the timer functions a clock line ran.
type ticks struct{ sweeps, reconciles int }

// tick runs the timers due: the sweep at every scheduled tick after from (the
// line before) and before to, the reconcile at every scheduled tick after
// lastClock (the clock line before; from when there is none) and at or before
// to, before the sweep of the same instant, whose seal then covers it; then
// the sweep once at to itself. The reconcile counts from the last clock line,
// not the last line, so that an arm line a recorder wrote at a reconcile's
// tick, just before that tick's clock line, does not hide the tick. setClock
// moves the replay clock to each tick as it runs.
func (r *Replayer) tick(ctx context.Context, p *guard.Pipeline, arm *ARM, from, lastClock, to time.Time, setClock func(time.Time)) (ticks, guard.Summary, error) {
	var sum guard.Summary
	var n ticks
	if !from.IsZero() && (r.Schedule != nil || r.Reconcile != nil) {
		max := r.MaxTicks
		if max <= 0 {
			max = DefaultMaxTicks
		}
		next := func(s Schedule, t time.Time) time.Time {
			if s == nil {
				return to.Add(time.Hour) // never before to
			}
			return s.Next(t)
		}
		rfrom := lastClock
		if rfrom.IsZero() || rfrom.After(from) {
			rfrom = from
		}
		sweepAt, reconcileAt := next(r.Schedule, from), next(r.Reconcile, rfrom)
		for {
			reconcile := !reconcileAt.After(to) && !reconcileAt.After(sweepAt)
			if !reconcile && !sweepAt.Before(to) {
				break
			}
			if n.sweeps+n.reconciles == max {
				r.report("clock: more than %d scheduled timer runs before %s; the rest were not run", max, to.Format(time.RFC3339))
				break
			}
			var s guard.Summary
			var err error
			if reconcile {
				at := reconcileAt
				if at.Before(from) {
					at = from // a tick the lines since the last clock line passed: run late, never back in time
				}
				setClock(at)
				s, err = p.RecheckOpenAmong(ctx, at, arm.ObservedBetween(arm.reconciled, at))
				arm.reconciled = at
				n.reconciles++
				reconcileAt = next(r.Reconcile, reconcileAt)
			} else {
				setClock(sweepAt)
				s, err = p.Sweep(ctx, sweepAt)
				n.sweeps++
				sweepAt = next(r.Schedule, sweepAt)
			}
			sum.Add(s)
			if err != nil {
				return n, sum, err
			}
		}
	}
	setClock(to)
	s, err := p.Sweep(ctx, to)
	sum.Add(s)
	n.sweeps++
	return n, sum, err
}

func (r *Replayer) report(format string, args ...any) {
	if r.Errors != nil {
		fmt.Fprintf(r.Errors, format+"\n", args...)
	}
}
