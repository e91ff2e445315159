package recorder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/exportguard/exportguard/pkg/activitylog"
	"github.com/exportguard/exportguard/pkg/eventgrid"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/replay"
	"github.com/exportguard/exportguard/pkg/rules"
	"github.com/exportguard/exportguard/pkg/session"
)

// Stats counts what a recording wrote.
type Stats struct {
	Messages, ARMLines, ClockLines int
	Unread                         int // reads ARM failed, answered from the session
	Dropped                        int // messages received but left out when stopped
	guard.Summary
}

func (s Stats) String() string {
	t := fmt.Sprintf("%d message(s), %d arm line(s), %d clock line(s); %d change(s), %d finding transition(s)",
		s.Messages, s.ARMLines, s.ClockLines, s.Changes, s.Transitions)
	if s.Unread > 0 {
		t += fmt.Sprintf("; %d read(s) ARM failed", s.Unread)
	}
	if s.Dropped > 0 {
		t += fmt.Sprintf("; %d message(s) received but left out when stopped", s.Dropped)
	}
	return t
}

// sweepReadTTL is how long a live read made for a sweep serves later sweeps:
// catching up on many ticks at once (a recording --since hours ago) reads each
// resource once, not once per tick. Reads for a message are always live.
const sweepReadTTL = 30 * time.Second

// Recorder writes a session from a hub's messages. It drives a pipeline of its
// own, on the session's clock exactly as replay will, whose every resource read
// asks ARM (Live) and is answered from the session as written so far: what
// replay will answer at that point. So replaying the session reaches the
// verdicts the recorder reached.
type Recorder struct {
	Receiver Receiver
	Live     guard.ResourceReader // ARM
	Policy   *guard.Policy
	// Rules are the rules the recorder's pipeline runs: replay's (the
	// built-in ones and the policy's custom rules, from the wiring);
	// rules.All() when nil.
	Rules    []guard.Rule
	Schedule replay.Schedule // the sweep timer's; nil: no sweeps
	// Reconcile is the reconcile timer's (nil: none): at a sweep tick at or
	// after one of its ticks, the open findings are re-checked first
	// (RecheckOpen), as replay will at the same tick, and what it read is
	// recorded.
	Reconcile replay.Schedule
	Out       *session.Writer
	Log       *slog.Logger
	Warn      io.Writer                            // where failed reads are reported
	Now       func() time.Time                     // the wall clock; time.Now when nil
	Start     time.Time                            // when recording started (the first tick follows it)
	Progress  func(Stats)                          // told after every line written, when set
	MinWait   time.Duration                        // shortest wait for messages before a tick is due (1 s)
	MaxWait   time.Duration                        // longest (1 min)
	Store     guard.Store                          // the pipeline's (an in-memory one does); Close closes it
	onRead    func(id string, res *guard.Resource) // tests: see live reads

	pipeline *guard.Pipeline
	session  *replay.ARM
	clock    time.Time
	pending  [][]byte
	sweeping bool
	cache    map[string]liveRead
	stats    Stats
}

type liveRead struct {
	res *guard.Resource
	err error
	at  time.Time
}

func (r *Recorder) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r *Recorder) init(ctx context.Context) error {
	if r.pipeline != nil {
		return nil
	}
	if r.Store == nil {
		return errors.New("record: no store for the recorder's pipeline")
	}
	if r.Start.IsZero() {
		r.Start = r.now()
	}
	r.session = replay.NewARM(func() time.Time { return r.clock })
	r.cache = map[string]liveRead{}
	// The pipeline replay builds, minus planners: a recording notifies and
	// remediates nothing.
	all := r.Rules
	if all == nil {
		all = rules.All()
	}
	r.pipeline = &guard.Pipeline{
		Store:  r.Store,
		Reader: sessionReader{r},
		Policy: r.Policy,
		Rules:  all,
		Decoders: map[guard.Source]guard.Decoder{
			guard.SourceEventHub:  activitylog.Decode,
			guard.SourceEventGrid: eventgrid.Decode,
		},
		Log: r.Log,
	}
	return nil
}

// Close closes the pipeline's store.
func (r *Recorder) Close() {
	if r.Store != nil {
		r.Store.Close()
	}
}

// Stats reports what was recorded so far.
func (r *Recorder) Stats() Stats { return r.stats }

// FindingsSummary counts the findings the recorder's pipeline holds: what
// replaying the session with the same policy finds.
func (r *Recorder) FindingsSummary(ctx context.Context) string {
	if r.Store == nil {
		return ""
	}
	fs, err := r.Store.ListFindings(ctx, guard.FindingFilter{})
	if err != nil {
		return ""
	}
	n := map[guard.Status]int{}
	for _, f := range fs {
		n[f.Status]++
	}
	return fmt.Sprintf("%d finding(s), %d open, %d resolved, %d exempt", len(fs), n[guard.StatusOpen], n[guard.StatusResolved], n[guard.StatusExempt])
}

// Run records until ctx ends (a clean stop, nil) or the receiver has no more
// (io.EOF, nil), or something fails for good.
func (r *Recorder) Run(ctx context.Context) error {
	if err := r.init(ctx); err != nil {
		return err
	}
	for {
		if ctx.Err() != nil {
			return nil
		}
		rctx, cancel := context.WithTimeout(ctx, r.wait())
		evs, err := r.Receiver.Receive(rctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			r.stats.Dropped += len(evs)
			return nil
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, context.DeadlineExceeded):
			// The hub is quiet: the wall clock drives the sweep timer.
			if err := r.sweepUntil(ctx, r.now()); err != nil {
				return r.stopped(ctx, err)
			}
			continue
		case err != nil:
			return err
		}
		for i, ev := range evs {
			if err := r.record(ctx, ev); err != nil {
				if ctx.Err() != nil {
					r.stats.Dropped += len(evs) - i
					return nil
				}
				return err
			}
		}
	}
}

// stopped turns a failure caused by the stop into the clean stop it is.
func (r *Recorder) stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// wait is how long to wait for messages before the wall clock is looked at
// again: until the next sweep tick, within MinWait and MaxWait.
func (r *Recorder) wait() time.Duration {
	lo, hi := r.MinWait, r.MaxWait
	if lo <= 0 {
		lo = time.Second
	}
	if hi <= 0 {
		hi = time.Minute
	}
	if r.Schedule == nil {
		return hi
	}
	d := r.Schedule.Next(r.tickBase()).Sub(r.now())
	return min(max(d, lo), hi)
}

func (r *Recorder) tickBase() time.Time {
	if r.clock.IsZero() {
		return r.Start
	}
	return r.clock
}

// record writes one message: the sweeps its enqueued time passes, then what
// the pipeline read to judge it, then the message.
func (r *Recorder) record(ctx context.Context, ev Event) error {
	at := ev.EnqueuedTime.UTC()
	if at.IsZero() {
		at = r.now()
	}
	if err := r.sweepUntil(ctx, at); err != nil {
		return err
	}
	if at.After(r.clock) {
		r.clock = at
	}
	// A message as a session line: its body as JSON when it is JSON
	// (compacted: a line holds no newline), as a JSON string when it is not.
	line, err := session.Encode(session.EventHub{EnqueuedTime: at, PartitionID: ev.PartitionID, SequenceNumber: ev.SequenceNumber,
		Body: session.Body(ev.Body)})
	if err != nil {
		return err
	}
	// Judge exactly the bytes replay will read back.
	l, err := session.Parse(line)
	if err != nil {
		return fmt.Errorf("record: a message made a line replay cannot read: %w", err)
	}
	sum, err := r.pipeline.Ingest(ctx, guard.SourceEventHub, l.Body, r.clock)
	if err != nil {
		r.pending = nil
		return fmt.Errorf("record: message %s/%d enqueued %s: %w", ev.PartitionID, ev.SequenceNumber, at.Format(time.RFC3339Nano), err)
	}
	if err := r.flush(); err != nil {
		return err
	}
	if err := r.Out.WriteLine(line); err != nil {
		return err
	}
	r.stats.Messages++
	r.stats.Summary.Add(sum)
	r.progress()
	return nil
}

// sweepUntil runs the sweep at every tick of the schedule after the session's
// clock, up to and including until, writing each tick's reads and then its
// clock line: replay then sweeps at the same ticks, and only there.
func (r *Recorder) sweepUntil(ctx context.Context, until time.Time) error {
	if r.Schedule == nil {
		return nil
	}
	for {
		t := r.Schedule.Next(r.tickBase()).UTC()
		if t.IsZero() || t.After(until) {
			return nil
		}
		var sum guard.Summary
		if r.Reconcile != nil {
			if rt := r.Reconcile.Next(r.tickBase()).UTC(); !rt.IsZero() && !rt.After(t) {
				r.clock = rt
				r.sweeping = true
				s, err := r.pipeline.RecheckOpen(ctx, rt)
				r.sweeping = false
				sum.Add(s)
				if err != nil {
					r.pending = nil
					return fmt.Errorf("record: reconcile at %s: %w", rt.Format(time.RFC3339), err)
				}
			}
		}
		r.clock = t
		r.sweeping = true
		s, err := r.pipeline.Sweep(ctx, t)
		r.sweeping = false
		sum.Add(s)
		if err != nil {
			r.pending = nil
			return fmt.Errorf("record: sweep at %s: %w", t.Format(time.RFC3339), err)
		}
		if err := r.flush(); err != nil {
			return err
		}
		line, err := session.Encode(session.Clock{At: t})
		if err != nil {
			return err
		}
		if err := r.Out.WriteLine(line); err != nil {
			return err
		}
		r.stats.ClockLines++
		r.stats.Summary.Add(sum)
		r.progress()
	}
}

func (r *Recorder) flush() error {
	for _, l := range r.pending {
		if err := r.Out.WriteLine(l); err != nil {
			return err
		}
		r.stats.ARMLines++
	}
	r.pending = nil
	return nil
}

func (r *Recorder) progress() {
	if r.Progress != nil {
		r.Progress(r.stats)
	}
}

// sessionReader is the recorder pipeline's ResourceReader.
type sessionReader struct{ r *Recorder }

// ReadResource asks ARM, records what it answered as an arm line at the
// session's clock (a deleted line for a 404 of a resource the session knew),
// and answers from the session: exactly what replay will answer here.
func (s sessionReader) ReadResource(ctx context.Context, id string) (*guard.Resource, error) {
	r := s.r
	key := guard.IDKey(id)
	lr, ok := r.cache[key]
	if !ok || !r.sweeping || r.now().Sub(lr.at) > sweepReadTTL {
		res, err := r.Live.ReadResource(ctx, id)
		if err != nil && ctx.Err() != nil {
			return nil, err // stopping: nothing is recorded for this message
		}
		lr = liveRead{res: res, err: err, at: r.now()}
		r.cache[key] = lr
		if r.onRead != nil {
			r.onRead(id, res)
		}
	}
	known, kerr := r.session.ReadResource(ctx, id)
	switch {
	case lr.err == nil && lr.res != nil:
		body, err := compactJSON(lr.res.Body)
		if err != nil {
			r.unread(id, fmt.Errorf("body is not JSON: %w", err))
			break
		}
		// A sweep's read that changes nothing is not written again; a
		// message's always is: it is the state that message is judged on.
		if r.sweeping && kerr == nil && bytes.Equal(known.Body, body) {
			break
		}
		if err := r.observe(session.ARM{ObservedAt: r.clock, ReadAt: lr.at, Body: body}); err != nil {
			r.unread(id, err)
		}
	case errors.Is(lr.err, guard.ErrNotFound):
		// Only a deleted line makes a resource gone in replay; a session
		// without one for it does not know (DESIGN 3.2).
		if !errors.Is(kerr, guard.ErrNotFound) {
			body, _ := json.Marshal(map[string]string{"id": id})
			if err := r.observe(session.ARM{ObservedAt: r.clock, ReadAt: lr.at, Deleted: true, Body: body}); err != nil {
				r.unread(id, err)
			}
		}
	case errors.Is(lr.err, guard.ErrUnsupported):
		// A type ARM cannot be asked for: the live pipeline gives it no
		// verdict, and neither does a session that knows nothing of it.
	default:
		r.unread(id, lr.err)
	}
	return r.session.ReadResource(ctx, id)
}

// observe queues an arm line for writing and lets the session's ARM see it,
// parsed from the very bytes that will be written.
func (r *Recorder) observe(a session.ARM) error {
	line, err := session.Encode(a)
	if err != nil {
		return err
	}
	l, err := session.Parse(line)
	if err != nil {
		return fmt.Errorf("a line replay cannot read: %w", err)
	}
	r.session.Observe(l)
	r.pending = append(r.pending, line)
	return nil
}

func (r *Recorder) unread(id string, err error) {
	r.stats.Unread++
	if r.Warn != nil {
		fmt.Fprintf(r.Warn, "\r\033[Kcould not read %s: %v; the session answers with what it knew of it\n", id, err)
	}
}

func compactJSON(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, bytes.TrimSpace(b)); err != nil {
		return nil, err
	}
	if buf.Len() == 0 {
		return nil, errors.New("empty")
	}
	return buf.Bytes(), nil
}
