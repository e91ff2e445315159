package guard

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// maxPoisonBody bounds what is kept of one piece of bad input.
const maxPoisonBody = 256 << 10

// Pipeline turns deliveries into findings: decode, ledger, state, rules, findings,
// audit (DESIGN 1). The Functions handler and replay drive the same pipeline; only
// the clock and the ResourceReader differ.
type Pipeline struct {
	Store    Store
	Reader   ResourceReader
	Policy   *Policy
	Rules    []Rule
	Decoders map[Source]Decoder
	Log      *slog.Logger
	// Planners turn finding transitions into outbox items (notifications,
	// remediation plans); Dispatcher, when set, delivers what is due at the end
	// of every delivery and sweep.
	Planners   []Planner
	Dispatcher *Dispatcher
	// ReadConcurrency is how many ARM reads a delivery makes at once before it
	// is stored (prefetch, on a Batcher store); 0 or 1 reads one at a time. Set
	// it only with a Reader that is safe for concurrent use.
	ReadConcurrency int
}

func (p *Pipeline) log() *slog.Logger {
	if p.Log == nil {
		return slog.Default()
	}
	return p.Log
}

// Ingest decodes one delivery from src and handles every change in it. Input that
// cannot be read is kept as poison and counted, never returned as an error: an
// error means the pipeline could not do its work (the store failed) and the
// delivery should be retried, which is safe because handling is idempotent.
func (p *Pipeline) Ingest(ctx context.Context, src Source, body []byte, now time.Time) (Summary, error) {
	return p.IngestAll(ctx, src, [][]byte{body}, now)
}

// IngestAll is Ingest for the message bodies of one delivery (an Event Hubs
// batch) together. On a store that is a Batcher the delivery is one
// transaction: every body is decoded and ARM is read first (prefetch), then
// everything the delivery changes is stored at once, and only then is the
// outbox dispatched. When that fails, each body is stored in a transaction of
// its own, so that one the store chokes on does not keep the others from being
// stored. On another store each body is handled on its own. Either way one
// body failing does not stop the others, and the error joins theirs.
func (p *Pipeline) IngestAll(ctx context.Context, src Source, bodies [][]byte, now time.Time) (Summary, error) {
	var sum Summary
	decode := p.Decoders[src]
	if decode == nil {
		return sum, fmt.Errorf("ingest: no decoder for source %q", src)
	}
	ctx = withReadCache(ctx)
	decoded := make([]Decoded, len(bodies))
	unreadable := make([]error, len(bodies))
	var changes []Change
	for i, b := range bodies {
		decoded[i], unreadable[i] = decode(b)
		changes = append(changes, decoded[i].Changes...)
	}
	handle := func(ctx context.Context, i int) error {
		if err := unreadable[i]; err != nil {
			sum.Rejected++
			return p.keepPoison(ctx, src, err.Error(), bodies[i], now)
		}
		d := decoded[i]
		for _, r := range d.Rejected {
			sum.Rejected++
			if err := p.keepPoison(ctx, src, r.Reason, r.Body, now); err != nil {
				return err
			}
		}
		sum.Ignored += d.Ignored
		for _, c := range d.Changes {
			s, err := p.HandleChange(ctx, c, now)
			sum.Add(s)
			if err != nil {
				return err
			}
		}
		return nil
	}
	// which names a body in an error, when there is more than one.
	which := func(i int, err error) error {
		if len(bodies) == 1 {
			return err
		}
		return fmt.Errorf("message body %d of %d: %w", i+1, len(bodies), err)
	}
	var errs []error
	if b, ok := p.Store.(Batcher); ok {
		p.prefetch(ctx, changes)
		err := b.Batch(ctx, func(ctx context.Context) error {
			for i := range bodies {
				if err := handle(ctx, i); err != nil {
					return which(i, err)
				}
			}
			return nil
		})
		switch {
		case err != nil && len(bodies) > 1 && ctx.Err() == nil:
			// One body may be what the store chokes on. Event Hubs checkpoints
			// a batch after its last retry whatever happens, so the others are
			// stored now, each in a transaction of its own, rather than lost
			// with it.
			p.log().Warn("batch not stored whole; storing its message bodies one by one", "bodies", len(bodies), "error", err.Error())
			sum = Summary{} // the batch stored nothing of what it counted
			for i := range bodies {
				if err := b.Batch(ctx, func(ctx context.Context) error { return handle(ctx, i) }); err != nil {
					errs = append(errs, which(i, err))
				}
			}
		case err != nil:
			return sum, err
		}
	} else {
		for i := range bodies {
			if err := handle(ctx, i); err != nil {
				errs = append(errs, which(i, err))
			}
		}
	}
	if err := p.dispatch(ctx, now); err != nil {
		errs = append(errs, err)
	}
	return sum, errors.Join(errs...)
}

// prefetch reads from ARM, into the delivery's read cache, the resources its
// changes will be judged on (ReadConcurrency at a time), so that a Batch does
// not hold the store's write lock while it waits on the network. It reads what
// HandleChange would read; a read that fails is not cached and is made again,
// and reported, when the change is handled.
func (p *Pipeline) prefetch(ctx context.Context, cs []Change) {
	var ids []string
	wanted := map[string]bool{}
	for _, c := range cs {
		if c.Resource != nil || wanted[IDKey(c.ResourceID)] || p.skip(c) != "" {
			continue
		}
		if seen, err := p.processed(ctx, c); err != nil || seen {
			continue
		}
		wanted[IDKey(c.ResourceID)] = true
		ids = append(ids, c.ResourceID)
	}
	if len(ids) <= 1 || p.ReadConcurrency <= 1 {
		for _, id := range ids {
			_, _ = p.readARM(ctx, id)
		}
		return
	}
	work := make(chan string)
	var wg sync.WaitGroup
	for range min(p.ReadConcurrency, len(ids)) {
		wg.Go(func() {
			for id := range work {
				_, _ = p.readARM(ctx, id)
			}
		})
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
}

// dispatch delivers what the outbox holds that is due.
func (p *Pipeline) dispatch(ctx context.Context, now time.Time) error {
	if p.Dispatcher == nil {
		return nil
	}
	_, err := p.Dispatcher.Run(ctx, now)
	return err
}

func (p *Pipeline) keepPoison(ctx context.Context, src Source, reason string, body []byte, now time.Time) error {
	if len(body) > maxPoisonBody {
		body = body[:maxPoisonBody]
	}
	h := sha256.Sum256(append([]byte(string(src)+"\x00"), body...))
	rec := PoisonRecord{ID: hex.EncodeToString(h[:16]), Source: string(src), Reason: reason, Body: string(body), At: now.UTC()}
	p.log().Warn("input kept as poison", "source", src, "reason", reason, "poisonId", rec.ID)
	if err := p.Store.PutPoison(ctx, rec); err != nil {
		return fmt.Errorf("keep poison %s: %w", rec.ID, err)
	}
	return nil
}

// HandleChange judges the resource one change touched. Only succeeded operations
// give a verdict, and one operation is handled once however often, and by however
// many sources, it is delivered.
func (p *Pipeline) HandleChange(ctx context.Context, c Change, now time.Time) (Summary, error) {
	sum := Summary{Changes: 1}
	if why := p.skip(c); why != "" {
		p.debugChange(ctx, c, "change skipped: "+why, "outcome", c.Outcome, "subscriptionId", c.SubscriptionID, "resourceType", c.ResourceType)
		sum.Skipped++
		return sum, nil
	}
	key := c.OperationKey()
	seen, err := p.processed(ctx, c)
	if err != nil {
		return sum, err
	}
	if seen {
		p.debugChange(ctx, c, "change skipped: already processed")
		sum.Duplicates++
		return sum, nil
	}
	c = p.received(c, now)
	res, err := p.stateAfter(ctx, c, now)
	if err != nil {
		return sum, err
	}
	trig := Trigger{Source: c.Source, EventID: c.EventID, CorrelationID: c.CorrelationID, Caller: c.Caller}
	var judged *Resource
	if res != nil {
		s, keep, err := p.judge(ctx, res, trig, now)
		sum.Add(s)
		if err != nil {
			return sum, err
		}
		judged = keep
		if s.Unconfirmed > 0 {
			// The event's state would resolve findings: only ARM may (DESIGN
			// 3.6). What it answers is judged like any state read, and kept.
			s, keep, err := p.confirm(ctx, res, trig, now)
			sum.Add(s)
			if err != nil {
				return sum, err
			}
			if keep != nil {
				judged = keep
			}
		}
	} else {
		sum.Skipped++
	}
	if err := p.audit(ctx, now, "change", c.ResourceID, changeAudit{
		Operation: c.Operation, Source: c.Source, EventID: c.EventID,
		CorrelationID: c.CorrelationID, Caller: c.Caller, EventTime: c.EventTime,
	}); err != nil {
		return sum, err
	}
	// The state judged becomes the last known state only now, once everything
	// that follows from it is done: a process that dies before this point has
	// the change delivered again, and judges it against the same previous
	// state (the key a storage account had, before it was switched off).
	if err := p.keepState(ctx, judged); err != nil {
		return sum, err
	}
	if err := p.Store.MarkProcessed(ctx, key, now); err != nil {
		return sum, fmt.Errorf("mark %s processed: %w", key, err)
	}
	return sum, nil
}

// skip says why a change is not judged at all, or "" when it is.
func (p *Pipeline) skip(c Change) string {
	switch {
	case c.Outcome != OutcomeSucceeded:
		return "operation did not succeed"
	case !p.Policy.InScope(c.SubscriptionID):
		return "subscription out of scope"
	case !p.judged(c.ResourceType) && (c.Resource == nil || !p.judged(c.Resource.Type)):
		return "no rule judges this resource type"
	}
	return ""
}

// keepState stores a judged state as the resource's last known state.
func (p *Pipeline) keepState(ctx context.Context, res *Resource) error {
	if res == nil {
		return nil
	}
	if err := p.Store.PutResource(ctx, res); err != nil {
		return fmt.Errorf("store state of %s: %w", res.ID, err)
	}
	return nil
}

// debugChange logs at debug level why a change was skipped. Most changes are
// skipped (Start records, failures, duplicates), so the logger with the
// change's attributes is built only when debug logging is on.
func (p *Pipeline) debugChange(ctx context.Context, c Change, msg string, args ...any) {
	l := p.log()
	if !l.Enabled(ctx, slog.LevelDebug) {
		return
	}
	l.With("resourceId", c.ResourceID, "operation", c.Operation, "source", c.Source, "eventId", c.EventID).Debug(msg, args...)
}

// judged reports whether any enabled rule judges resources of this type.
func (p *Pipeline) judged(resourceType string) bool {
	for _, r := range p.Rules {
		if p.Policy.RuleMode(r.ID()) != ModeOff && r.Applies(resourceType) {
			return true
		}
	}
	return false
}

// stateAfter finds the state of the resource after the change: carried by the
// event, or read from ARM. A delete, whoever reports it, is read from ARM too:
// an event saying a resource is gone is a reason to look, not an answer (DESIGN
// 3.6). It returns nil when the state is unknown (never seen, and ARM does not
// know it either).
func (p *Pipeline) stateAfter(ctx context.Context, c Change, now time.Time) (*Resource, error) {
	id, typ := c.ResourceID, c.ResourceType
	if c.Resource != nil {
		if !c.Resource.Deleted {
			return c.Resource, nil
		}
		id, typ = c.Resource.ID, c.Resource.Type
	}
	res, err := p.read(ctx, id, typ, now)
	if errors.Is(err, ErrUnknown) {
		return nil, nil
	}
	return res, err
}

// confirm reads from ARM a resource whose state an event carried, and judges
// what ARM answers, which may resolve findings. Nothing changes when ARM has no
// answer.
func (p *Pipeline) confirm(ctx context.Context, carried *Resource, trig Trigger, now time.Time) (Summary, *Resource, error) {
	res, err := p.read(ctx, carried.ID, carried.Type, now)
	switch {
	case errors.Is(err, ErrUnknown):
		return Summary{}, nil, nil
	case err != nil:
		return Summary{}, nil, err
	case res == nil:
		return Summary{}, nil, nil
	}
	return p.judge(ctx, res, trig, now)
}

// MaxClockSkew is how far past its receipt an event's time may lie before it
// is taken as a lie: such a time is replaced by the time of receipt (DESIGN 3.6).
const MaxClockSkew = 5 * time.Minute

// received prepares a change as the pipeline believes it: a state the event
// carried is marked as such (Resource.FromEvent), and an event time, or a
// carried state's time, later than its receipt (plus MaxClockSkew) is taken
// as the receipt time, so that a state dated in the future cannot hide every
// real one after it.
func (p *Pipeline) received(c Change, now time.Time) Change {
	limit := now.Add(MaxClockSkew)
	if c.EventTime.After(limit) {
		p.log().Warn("event time later than its receipt; taken as the receipt time", "resourceId", c.ResourceID,
			"eventId", c.EventID, "source", c.Source, "eventTime", c.EventTime, "receivedAt", now.UTC())
		c.EventTime = now.UTC()
	}
	if c.Resource != nil {
		r := *c.Resource
		r.FromEvent = true
		if r.ObservedAt.After(limit) {
			p.log().Warn("state an event carried is dated later than its receipt; taken as the receipt time", "resourceId", r.ID,
				"eventId", c.EventID, "observedAt", r.ObservedAt, "receivedAt", now.UTC())
			r.ObservedAt = now.UTC()
		}
		c.Resource = &r
	}
	return c
}

// processed reports whether the change is in the ledger, under its key or the
// key a version before issue 14 gave it.
func (p *Pipeline) processed(ctx context.Context, c Change) (bool, error) {
	key := c.OperationKey()
	seen, err := p.Store.Processed(ctx, key)
	if err != nil {
		return false, fmt.Errorf("check ledger for %s: %w", key, err)
	}
	if legacy := c.legacyKey(); !seen && legacy != "" {
		if seen, err = p.Store.Processed(ctx, legacy); err != nil {
			return false, fmt.Errorf("check ledger for %s: %w", legacy, err)
		}
	}
	return seen, nil
}

// read asks ARM for the resource. A 404 for a resource known before means it was
// deleted; for one never seen, that nothing is known. A reader with no answer
// (ErrUnknown: a recorded session that never saw the resource) is returned as
// that error, for the caller to leave everything about the resource as it is.
func (p *Pipeline) read(ctx context.Context, id, typ string, now time.Time) (*Resource, error) {
	res, err := p.readARM(ctx, id)
	if err == nil {
		return res, nil
	}
	if errors.Is(err, ErrUnsupported) {
		p.log().Info("resource type cannot be read; no verdict", "resourceId", id, "error", err.Error())
		return nil, nil
	}
	if errors.Is(err, ErrUnknown) {
		p.log().Info("no state known for the resource; nothing about it changes", "resourceId", id)
		return nil, fmt.Errorf("read %s: %w", id, err)
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("read %s: %w", id, err)
	}
	prev, perr := p.Store.GetResource(ctx, id)
	switch {
	case errors.Is(perr, ErrNotFound):
		// Never judged itself, but findings may name it (a VM a JIT grant
		// was checked on): ARM's 404 settles those.
		fs, err := p.Store.ListFindings(ctx, FindingFilter{ResourceID: id})
		if err != nil {
			return nil, fmt.Errorf("list findings of %s: %w", id, err)
		}
		for _, f := range fs {
			if f.Status != StatusResolved {
				return &Resource{ID: id, Type: typ, Deleted: true, ObservedAt: now.UTC()}, nil
			}
		}
		p.log().Info("resource unknown to ARM and never seen; no verdict", "resourceId", id)
		return nil, nil
	case perr != nil:
		return nil, fmt.Errorf("get last known state of %s: %w", id, perr)
	case prev.Deleted:
		return nil, nil
	case !prev.FromEvent && prev.ObservedAt.After(now):
		// ARM saw it exist after this moment: a 404 now is out of date (a late
		// delivery, a replay run again over the same store), not a deletion.
		return nil, nil
	}
	return &Resource{ID: prev.ID, Type: prev.Type, Location: prev.Location, Deleted: true, ObservedAt: now.UTC()}, nil
}

// judge runs the rules over the resource's new state, against the last known
// state, and returns the new state for the caller to store (keepState) once
// everything that follows from it is done; nil when it was not judged, or
// when an event carried it and the last known state is one ARM answered,
// which it never replaces: the state before that a rule compares with, and a
// remediation restores, stays one ARM answered (DESIGN 3.6).
func (p *Pipeline) judge(ctx context.Context, res *Resource, trig Trigger, now time.Time) (Summary, *Resource, error) {
	var sum Summary
	var prev *Resource
	switch known, err := p.Store.GetResource(ctx, res.ID); {
	case err == nil && !known.FromEvent && res.ObservedAt.Before(known.ObservedAt):
		// Older than a state ARM answered and that was judged: judging it
		// again would move findings back in time. Only ARM's word counts
		// here; a state an event carried, whatever its date, hides nothing.
		p.log().Warn("state older than the last known state read from ARM; not judged", "resourceId", res.ID,
			"observedAt", res.ObservedAt, "lastKnown", known.ObservedAt, "fromEvent", res.FromEvent)
		return sum, nil, nil
	case err == nil:
		prev = known
	case !errors.Is(err, ErrNotFound):
		return sum, nil, fmt.Errorf("get last known state of %s: %w", res.ID, err)
	}
	if res.Deleted {
		s, err := p.closeAll(ctx, res.ID, trig, now)
		if err == nil {
			var d Summary
			d, err = p.settleDeleted(ctx, res, prev, trig, now)
			s.Add(d)
		}
		return s, res, err
	}
	s, err := p.evaluate(ctx, res, prev, trig, now)
	if res.FromEvent && prev != nil && !prev.FromEvent {
		return s, nil, err
	}
	return s, res, err
}

// evaluate runs the rules over a state and moves the findings their verdicts
// are about.
func (p *Pipeline) evaluate(ctx context.Context, res, prev *Resource, trig Trigger, now time.Time) (Summary, error) {
	var sum Summary
	var err error
	in := Input{Policy: p.Policy, Resource: res, Previous: prev, Now: now}
	for _, r := range p.Rules {
		if p.Policy.RuleMode(r.ID()) == ModeOff || !r.Applies(res.Type) {
			continue
		}
		rin := in
		if g, ok := r.(Gatherer); ok {
			if rin.Related, err = p.gather(ctx, g, res); err != nil {
				return sum, err
			}
		}
		if d, ok := r.(DependentRule); ok {
			if rin.Dependents, err = p.dependents(ctx, res, d.References(res)); err != nil {
				return sum, err
			}
		}
		if rf, ok := r.(Referrer); ok {
			if rin.Dependents, err = p.dependents(ctx, res, rf.Refers(rin)); err != nil {
				return sum, err
			}
		}
		if gr, ok := r.(GrantRule); ok {
			for _, g := range gr.Grants(rin) {
				g.Rule = r.ID()
				if err := p.Store.PutGrant(ctx, g); err != nil {
					return sum, fmt.Errorf("store grant %s on %s: %w", g.ID, g.ResourceID, err)
				}
			}
		}
		s, err := p.record(ctx, r.Evaluate(rin), res, prev, trig, now)
		sum.Add(s)
		if err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// settleDeleted asks the rules whose verdicts are about other resources what
// the deletion of res settles (DeletionRule).
func (p *Pipeline) settleDeleted(ctx context.Context, res, prev *Resource, trig Trigger, now time.Time) (Summary, error) {
	var sum Summary
	in := Input{Policy: p.Policy, Resource: res, Previous: prev, Now: now}
	for _, r := range p.Rules {
		d, ok := r.(DeletionRule)
		if !ok || p.Policy.RuleMode(r.ID()) == ModeOff || !r.Applies(res.Type) {
			continue
		}
		s, err := p.record(ctx, d.Deleted(in), res, prev, trig, now)
		sum.Add(s)
		if err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// record audits verdicts and moves the findings they are about.
func (p *Pipeline) record(ctx context.Context, vs []Verdict, res, prev *Resource, trig Trigger, now time.Time) (Summary, error) {
	if trig.Source != SourceTimer {
		// Verdicts reached on an event are recorded; a sweep's repeated verdicts
		// are recorded only when they move a finding, or the trail would grow
		// with every tick.
		for _, v := range vs {
			if err := p.audit(ctx, now, "verdict", v.ResourceID, verdictAudit{
				Rule: v.Rule, Violation: v.Violation, GrantID: v.GrantID, Message: v.Message, EventID: trig.EventID,
			}); err != nil {
				return Summary{}, err
			}
		}
	}
	return p.applyAll(ctx, vs, res, prev, trig, now)
}

// applyAll moves the findings the verdicts are about.
func (p *Pipeline) applyAll(ctx context.Context, vs []Verdict, res, prev *Resource, trig Trigger, now time.Time) (Summary, error) {
	var sum Summary
	for _, v := range vs {
		sum.Verdicts++
		moved, err := p.updateFinding(ctx, FindingID(v.Rule, v.ResourceID, v.GrantID), v, SubscriptionOf(v.ResourceID), res, prev, trig, now)
		if err != nil {
			return sum, err
		}
		switch moved {
		case moveChanged:
			sum.Transitions++
		case moveUnconfirmed:
			sum.Unconfirmed++
		}
	}
	return sum, nil
}

// gather reads what a Gatherer asks for, within bounds and within scope.
func (p *Pipeline) gather(ctx context.Context, g Gatherer, res *Resource) (map[string]*Resource, error) {
	have := map[string]*Resource{IDKey(res.ID): res}
	reads := 0
	for round := 0; round < MaxGatherRounds; round++ {
		var next []string
		for _, id := range g.Related(res, have) {
			if _, ok := have[IDKey(id)]; !ok && !slicesContainsKey(next, id) {
				next = append(next, id)
			}
		}
		if len(next) == 0 {
			break
		}
		for _, id := range next {
			if reads == MaxGatherReads {
				p.log().Warn("gather: read limit reached", "resourceId", res.ID, "limit", MaxGatherReads)
				return have, nil
			}
			if !p.Policy.InScope(SubscriptionOf(id)) {
				have[IDKey(id)] = nil // out of scope: never touched
				continue
			}
			reads++
			r, err := p.readARM(ctx, id)
			switch {
			case errors.Is(err, ErrNotFound):
				r = &Resource{ID: id, Type: TypeOf(id), Deleted: true}
			case errors.Is(err, ErrUnknown):
				r = nil // no answer: neither there nor gone
			case err != nil:
				return nil, fmt.Errorf("gather %s for %s: %w", id, res.ID, err)
			}
			have[IDKey(id)] = r
		}
	}
	return have, nil
}

func slicesContainsKey(ids []string, id string) bool {
	for _, x := range ids {
		if IDKey(x) == IDKey(id) {
			return true
		}
	}
	return false
}

// dependents returns the known resources whose bodies mention one of refs.
func (p *Pipeline) dependents(ctx context.Context, res *Resource, refs []string) ([]*Resource, error) {
	var lower [][]byte
	for _, r := range refs {
		if r = strings.ToLower(strings.TrimSpace(r)); r != "" {
			lower = append(lower, []byte(r))
		}
	}
	if len(lower) == 0 {
		return nil, nil
	}
	all, err := p.Store.ListResources(ctx)
	if err != nil {
		return nil, fmt.Errorf("find resources that use %s: %w", res.ID, err)
	}
	var out []*Resource
	for i := range all {
		d := &all[i]
		if d.Deleted || SameID(d.ID, res.ID) || !p.Policy.InScope(SubscriptionOf(d.ID)) {
			continue
		}
		body := bytes.ToLower(d.Body)
		for _, r := range lower {
			if bytes.Contains(body, r) {
				out = append(out, d)
				break
			}
		}
	}
	return out, nil
}

// closeAll resolves every finding about a resource that no longer exists: its
// own, and those a child settings resource had on its parent.
func (p *Pipeline) closeAll(ctx context.Context, id string, trig Trigger, now time.Time) (Summary, error) {
	var sum Summary
	fs, err := p.Store.ListFindings(ctx, FindingFilter{ResourceID: id})
	if err != nil {
		return sum, fmt.Errorf("list findings of deleted %s: %w", id, err)
	}
	if parent := ParentOf(id); parent != "" {
		for _, rule := range RuleIDs {
			f, err := p.Store.GetFinding(ctx, FindingID(rule, parent, ChildVerdictGrant(id)))
			switch {
			case err == nil:
				fs = append(fs, *f)
			case !errors.Is(err, ErrNotFound):
				return sum, fmt.Errorf("find findings of deleted %s: %w", id, err)
			}
		}
	}
	for _, f := range fs {
		if f.Status == StatusResolved {
			continue
		}
		v := Verdict{Rule: f.Rule, ResourceID: f.ResourceID, Message: "The resource was deleted.",
			Evidence: map[string]any{"deleted": true, "deletedResource": id}}
		moved, err := p.updateFinding(ctx, f.ID, v, f.SubscriptionID, nil, nil, trig, now)
		if err != nil {
			return sum, err
		}
		if moved == moveChanged {
			sum.Transitions++
		}
	}
	return sum, nil
}

// move is what updateFinding did with a verdict.
type move int

const (
	moveNone        move = iota // the finding stays in its state
	moveChanged                 // the finding changed state
	moveUnconfirmed             // it would have resolved, on a state an event carried: left for ARM to confirm
)

// updateFinding moves a finding through its states (open, resolved, exempt) and
// reports whether it changed state. Only transitions are audited (and, later,
// notified); a repeated verdict only moves lastSeen. A verdict on a state an
// event carried (res.FromEvent) may open a finding or keep it open, never
// resolve it (DESIGN 3.6).
func (p *Pipeline) updateFinding(ctx context.Context, id string, v Verdict, sub string, res, prev *Resource, trig Trigger, now time.Time) (move, error) {
	now = now.UTC()
	var from, to Status
	unconfirmed := false
	var unfinished *Finding // a transition stored by a process that died before telling it
	// A transition this call stores is this call's to tell: no other call of
	// this process takes it over meanwhile (mayFinish).
	defer telling(id, now)()
	stored, err := p.Store.UpdateFinding(ctx, id, func(cur *Finding) (*Finding, error) {
		from, to, unfinished, unconfirmed = "", "", nil, false
		if cur != nil && cur.Pending != nil {
			u := *cur
			unfinished = &u
		}
		next := nextFinding(cur, p.Policy, v, id, sub, trig, now)
		if next == nil {
			return nil, nil
		}
		if next.Status == StatusResolved && res != nil && res.FromEvent {
			unconfirmed = true
			return nil, nil
		}
		if cur != nil {
			from = cur.Status
			next.Pending = cur.Pending // until it is told, below
		}
		to = next.Status
		if from != to {
			next.Pending = &PendingTransition{From: from, At: now, By: incarnation}
		}
		return next, nil
	})
	if err != nil {
		return moveNone, fmt.Errorf("update finding %s (%s on %s): %w", id, v.Rule, v.ResourceID, err)
	}
	same := unfinished != nil && sameTrigger(unfinished.Trigger, trig)
	self := 0
	if unfinished != nil && unfinished.Pending.At.Equal(now) {
		self = 1
	}
	if unfinished != nil && !mayFinish(id, *unfinished.Pending, same, now, self) {
		unfinished = nil
	}
	if unfinished != nil {
		// The state judged now, and the last known state, which the change that
		// moved the finding never replaced (keepState comes after). The same
		// change delivered again has the verdict too; anything else tells the
		// transition from the finding.
		t := Transition{Finding: *unfinished, From: unfinished.Pending.From, Verdict: v, Resource: res, Previous: prev}
		if !same {
			t.Verdict = verdictOf(*unfinished)
		}
		p.log().Warn("telling a finding transition a process left untold", "findingId", id, "to", unfinished.Status, "at", unfinished.Pending.At)
		if err := p.tell(ctx, t, *unfinished.Pending); err != nil {
			return moveNone, err
		}
	}
	stay := moveNone
	if unconfirmed {
		p.log().Info("finding not resolved on a state an event carried; asking ARM", "findingId", id, "rule", v.Rule, "resourceId", v.ResourceID)
		stay = moveUnconfirmed
	}
	if from == to {
		if unfinished != nil {
			return stay, p.told(ctx, id, *unfinished.Pending)
		}
		return stay, nil
	}
	p.log().Info("finding "+string(to), "findingId", id, "rule", v.Rule, "resourceId", v.ResourceID, "from", from)
	pending := *stored.Pending
	if err := p.tell(ctx, Transition{Finding: *stored, From: from, Verdict: v, Resource: res, Previous: prev}, pending); err != nil {
		return moveChanged, err
	}
	return moveChanged, p.told(ctx, id, pending)
}

// PendingLease is how long a transition stored and not yet told is left to the
// process that stored it, which may be telling it right now (a duplicate
// delivered concurrently meets it); after that, the process is presumed dead,
// and whatever next writes the finding, or the sweep, tells it.
const PendingLease = 5 * time.Minute

// incarnation names this process in the pending transitions it stores.
var incarnation = func() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}()

// inFlight counts the calls of this process that may be telling a finding's
// transition at a time now, by finding ID and time.
var inFlight = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

func inFlightKey(id string, at time.Time) string { return id + "|" + at.UTC().Format(time.RFC3339Nano) }

// telling counts a call that may tell a finding's transition at a time until
// the function it returns is called.
func telling(id string, at time.Time) func() {
	key := inFlightKey(id, at)
	inFlight.Lock()
	inFlight.n[key]++
	inFlight.Unlock()
	return func() {
		inFlight.Lock()
		if inFlight.n[key]--; inFlight.n[key] <= 0 {
			delete(inFlight.n, key)
		}
		inFlight.Unlock()
	}
}

// mayFinish reports whether a pending transition met now is this process's to
// tell. One this process stored is, unless it is telling it right now (a
// duplicate delivered concurrently meets it): the attempt that stored it
// failed, and the delivery is tried again. One another process stored is
// when the same change meets it at the same time (a replay run again after a
// crash: it has all the transition's facts), or once it is older than
// PendingLease: that process is presumed dead.
//
// self is 1 when the caller itself is counted in flight for the transition's
// finding and time (telling), 0 otherwise.
func mayFinish(id string, pt PendingTransition, sameChange bool, now time.Time, self int) bool {
	if pt.By == incarnation {
		inFlight.Lock()
		busy := inFlight.n[inFlightKey(id, pt.At)] > self
		inFlight.Unlock()
		return !busy
	}
	if sameChange && now.Equal(pt.At) {
		return true
	}
	return !now.Before(pt.At.Add(PendingLease))
}

// tell records a stored transition in the audit trail and plans what follows
// from it (notifications, remediation). Done again after a crash, the outbox
// items are the same (their IDs are the transition's) and kept once; the audit
// record may be written a second time, the same but for its sequence number.
func (p *Pipeline) tell(ctx context.Context, t Transition, pt PendingTransition) error {
	t.Finding.Pending = nil
	t.Finding.LastSeen = pt.At // the transition's time, which item IDs hash
	f := t.Finding
	if err := p.audit(ctx, pt.At, "finding."+string(f.Status), f.ID, map[string]any{
		"rule": f.Rule, "resourceId": f.ResourceID, "from": pt.From, "to": f.Status, "message": t.Verdict.Message, "trigger": f.Trigger,
	}); err != nil {
		return err
	}
	return p.plan(ctx, t, pt.At)
}

// told clears a finding's pending transition once it is told, unless the
// finding has moved on to another.
func (p *Pipeline) told(ctx context.Context, id string, pt PendingTransition) error {
	_, err := p.Store.UpdateFinding(ctx, id, func(cur *Finding) (*Finding, error) {
		if cur == nil || cur.Pending == nil || cur.Pending.From != pt.From || !cur.Pending.At.Equal(pt.At) || cur.Pending.By != pt.By {
			return nil, nil
		}
		n := *cur
		n.Pending = nil
		return &n, nil
	})
	if err != nil {
		return fmt.Errorf("update finding %s: transition told: %w", id, err)
	}
	return nil
}

// finishPending tells a finding's pending transition, left by a process that
// died, and clears it: for a transition nothing else will come back to (a
// sweep's resolution, a change never delivered again). It knows no verdict
// but the finding's and no state but the last known, which the change that
// moved the finding never replaced.
func (p *Pipeline) finishPending(ctx context.Context, id string, trig Trigger, now time.Time) error {
	f, err := p.Store.GetFinding(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("get finding %s: %w", id, err)
	case f.Pending == nil || !mayFinish(id, *f.Pending, sameTrigger(f.Trigger, trig), now, 0):
		return nil // told meanwhile, or not yet this process's to tell
	}
	prev, err := p.Store.GetResource(ctx, f.ResourceID)
	switch {
	case errors.Is(err, ErrNotFound):
		prev = nil
	case err != nil:
		return fmt.Errorf("get last known state of %s: %w", f.ResourceID, err)
	}
	res, err := p.readARM(ctx, f.ResourceID) // the state now, as far as ARM tells
	if err != nil {
		res = nil
	}
	p.log().Warn("telling a finding transition a process left untold", "findingId", id, "to", f.Status, "at", f.Pending.At)
	t := Transition{Finding: *f, From: f.Pending.From, Verdict: verdictOf(*f), Resource: res, Previous: prev}
	if err := p.tell(ctx, t, *f.Pending); err != nil {
		return err
	}
	return p.told(ctx, id, *f.Pending)
}

// verdictOf is the verdict a finding's latest transition rests on, as far as
// the finding keeps it.
func verdictOf(f Finding) Verdict {
	v := Verdict{Rule: f.Rule, ResourceID: f.ResourceID, Violation: f.Status != StatusResolved,
		Message: f.Message, Action: f.Remediation.Action, Evidence: copyEvidence(f.Evidence)}
	if r, ok := f.Evidence["resolution"].(map[string]any); ok && f.Status == StatusResolved {
		v.Message, _ = r["message"].(string)
	}
	return v
}

// sameTrigger reports whether two triggers name the same event.
func sameTrigger(a, b Trigger) bool {
	return a.Source == b.Source && a.EventID == b.EventID && a.CorrelationID == b.CorrelationID
}

// plan enqueues what the planners make of a transition.
func (p *Pipeline) plan(ctx context.Context, t Transition, now time.Time) error {
	for _, pl := range p.Planners {
		items, err := pl.Plan(ctx, t)
		if err != nil {
			return fmt.Errorf("plan for finding %s: %w", t.Finding.ID, err)
		}
		for _, it := range items {
			if it.CreatedAt.IsZero() {
				it.CreatedAt = now
			}
			if it.NextAttempt.IsZero() {
				it.NextAttempt = now
			}
			if err := p.Store.Enqueue(ctx, it); err != nil {
				return fmt.Errorf("enqueue %s for finding %s: %w", it.Kind, t.Finding.ID, err)
			}
		}
	}
	return nil
}

// nextFinding is the finding state machine: what the finding becomes after a
// verdict, or nil when nothing is to be written.
func nextFinding(cur *Finding, pol *Policy, v Verdict, id, sub string, trig Trigger, now time.Time) *Finding {
	if cur != nil && now.Before(cur.LastSeen) {
		return nil // a verdict older than the finding's last word moves nothing
	}
	if cur != nil && now.Equal(cur.LastSeen) && sameTrigger(cur.Trigger, trig) && cur.Status == statusOf(pol, v, now) {
		// The change that moved the finding, judged again at the same time (a
		// replay run again after the process died before marking it done): its
		// verdict is the finding already, judged against the previous state
		// then, which this judgement may no longer know.
		return nil
	}
	if !v.Violation {
		if cur == nil || cur.Status == StatusResolved {
			return nil
		}
		n := *cur
		n.Status, n.ResolvedAt, n.LastSeen, n.Trigger = StatusResolved, &now, now, trig
		n.Evidence = copyEvidence(cur.Evidence)
		n.Evidence["resolution"] = map[string]any{"message": v.Message, "facts": v.Evidence}
		return &n
	}
	status := StatusOpen
	evidence := copyEvidence(v.Evidence)
	if ex, ok := pol.Exemption(v.Rule, v.ResourceID, now); ok {
		status = StatusExempt
		evidence["exemption"] = map[string]any{"resource": ex.Resource, "reason": ex.Reason,
			"approvedBy": ex.ApprovedBy, "expiresOn": ex.ExpiresOn}
	}
	mode := RemediationOff
	if pol.RuleMode(v.Rule) == ModeRemediate {
		mode = pol.Remediation.Mode
	}
	n := Finding{ID: id, Rule: v.Rule, Severity: pol.Severity(v.Rule), Status: status, SubscriptionID: sub,
		ResourceID: v.ResourceID, Message: v.Message, Evidence: evidence, FirstSeen: now, LastSeen: now,
		Trigger: trig, Remediation: Remediation{Action: v.Action, Mode: mode, Status: remediationStatus(mode, v.Action, status)}}
	switch {
	case cur == nil || status != StatusOpen:
	case cur.Status == StatusExempt:
		n.Evidence["exemptionExpired"] = cur.Evidence["exemption"] // what covered it until now
	case cur.Evidence["exemptionExpired"] != nil:
		n.Evidence["exemptionExpired"] = cur.Evidence["exemptionExpired"]
	}
	if cur != nil {
		n.FirstSeen = cur.FirstSeen
		if cur.Status == status {
			// What belongs to the latest transition stays with it: its trigger,
			// and the remediation of it so far, status and the remediation
			// engine's record (evidence.remediation: the plan, its approval,
			// its outcome), which the executor reads after a crash.
			n.Trigger = cur.Trigger
			n.Remediation.Status = cur.Remediation.Status
			if rec, ok := cur.Evidence["remediation"]; ok {
				n.Evidence["remediation"] = rec
			}
		}
	}
	return &n
}

// statusOf is the status a verdict gives a finding.
func statusOf(pol *Policy, v Verdict, now time.Time) Status {
	if !v.Violation {
		return StatusResolved
	}
	if _, ok := pol.Exemption(v.Rule, v.ResourceID, now); ok {
		return StatusExempt
	}
	return StatusOpen
}

func copyEvidence(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// changeAudit and verdictAudit are the data of the two records written for
// every change, as structs rather than maps (a map costs a sort and reflection
// per key). Their fields are in the order of their names, with no omitempty, so
// that they encode to the same bytes as the maps they replaced: the trail's
// hashes cover those bytes.
type changeAudit struct {
	Caller        string    `json:"caller"`
	CorrelationID string    `json:"correlationId"`
	EventID       string    `json:"eventId"`
	EventTime     time.Time `json:"eventTime"`
	Operation     string    `json:"operation"`
	Source        Source    `json:"source"`
}

type verdictAudit struct {
	EventID   string `json:"eventId"`
	GrantID   string `json:"grantId"`
	Message   string `json:"message"`
	Rule      string `json:"rule"`
	Violation bool   `json:"violation"`
}

func (p *Pipeline) audit(ctx context.Context, now time.Time, kind, subject string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("audit %s: %w", kind, err)
	}
	if _, err := p.Store.AppendAudit(ctx, AuditRecord{At: now.UTC(), Kind: kind, Subject: subject, Data: raw}); err != nil {
		return fmt.Errorf("audit %s of %s: %w", kind, subject, err)
	}
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// remediationStatus is where a new or reopened finding's remediation starts.
func remediationStatus(mode, action string, status Status) string {
	if action == "" || status != StatusOpen {
		return "none"
	}
	switch mode {
	case RemediationDryRun, RemediationAuto:
		return "planned"
	case RemediationApprove:
		return "awaiting-approval"
	}
	return "none"
}
