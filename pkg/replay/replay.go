package replay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
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
	Errors   io.Writer       // where bad lines are reported, with their line numbers
	MaxTicks int             // bound on sweeps per clock line; DefaultMaxTicks when 0
	// Progress, when set, is told every ProgressEvery lines how far a session is.
	Progress func(name string, lines int)
	// Bind, when set, is given each session's ARM before the session runs, so
	// that parts beyond the pipeline's Reader (the remediation executor) read
	// and write the same recorded resources.
	Bind func(arm *ARM)
}

// ProgressEvery is how often (in lines) Progress is called.
const ProgressEvery = 1000

// Stats counts what a replay did.
type Stats struct {
	Lines, BadLines, Sweeps int
	guard.Summary
}

// Run replays one session. A malformed line is reported and skipped; an error is
// returned only when the pipeline itself fails (the store), or reading fails.
func (r *Replayer) Run(ctx context.Context, name string, in io.Reader) (Stats, error) {
	var st Stats
	var clock time.Time
	arm := NewARM(func() time.Time { return clock })
	p := *r.Pipeline
	p.Reader = arm
	if r.Bind != nil {
		r.Bind(arm)
	}
	br := bufio.NewReaderSize(in, 64<<10)
	for n := 1; ; n++ {
		raw, tooLong, err := readLine(br)
		if errors.Is(err, io.EOF) && len(raw) == 0 && !tooLong {
			return st, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return st, fmt.Errorf("%s:%d: read: %w", name, n, err)
		}
		if err := ctx.Err(); err != nil {
			return st, err
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 && !tooLong {
			continue
		}
		st.Lines++
		if r.Progress != nil && st.Lines%ProgressEvery == 0 {
			r.Progress(name, st.Lines)
		}
		if tooLong {
			st.BadLines++
			r.report("%s:%d: line longer than %d bytes, skipped", name, n, MaxLineBytes)
			continue
		}
		l, perr := ParseLine(raw)
		if perr != nil {
			st.BadLines++
			r.report("%s:%d: %v; line skipped", name, n, perr)
			continue
		}
		prev := clock
		if l.At.After(clock) {
			clock = l.At
		}
		var sum guard.Summary
		switch l.Source {
		case SourceEventHub:
			sum, err = p.Ingest(ctx, guard.SourceEventHub, l.Body, clock)
		case SourceEventGrid:
			sum, err = p.Ingest(ctx, guard.SourceEventGrid, l.Body, clock)
		case SourceARM:
			arm.Observe(l)
		case SourceClock:
			var sweeps int
			sweeps, sum, err = r.tick(ctx, &p, prev, clock, func(t time.Time) { clock = t })
			st.Sweeps += sweeps
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

// tick runs the sweep for every scheduled tick after from and before to, then
// once at to itself. setClock moves the replay clock to each tick as it runs.
func (r *Replayer) tick(ctx context.Context, p *guard.Pipeline, from, to time.Time, setClock func(time.Time)) (int, guard.Summary, error) {
	var sum guard.Summary
	sweeps := 0
	if r.Schedule != nil && !from.IsZero() {
		max := r.MaxTicks
		if max <= 0 {
			max = DefaultMaxTicks
		}
		for t := r.Schedule.Next(from); t.Before(to); t = r.Schedule.Next(t) {
			if sweeps == max {
				r.report("clock: more than %d scheduled sweeps before %s; the rest were not run", max, to.Format(time.RFC3339))
				break
			}
			setClock(t)
			s, err := p.Sweep(ctx, t)
			sum.Add(s)
			sweeps++
			if err != nil {
				return sweeps, sum, err
			}
		}
	}
	setClock(to)
	s, err := p.Sweep(ctx, to)
	sum.Add(s)
	return sweeps + 1, sum, err
}

func (r *Replayer) report(format string, args ...any) {
	if r.Errors != nil {
		fmt.Fprintf(r.Errors, format+"\n", args...)
	}
}

// readLine reads one line of at most MaxLineBytes; a longer one is consumed and
// reported as too long rather than held in memory.
func readLine(br *bufio.Reader) ([]byte, bool, error) {
	var line []byte
	tooLong := false
	for {
		chunk, isPrefix, err := br.ReadLine()
		if !tooLong {
			if len(line)+len(chunk) > MaxLineBytes {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if err != nil || !isPrefix {
			return line, tooLong, err
		}
	}
}
