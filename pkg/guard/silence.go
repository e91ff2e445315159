package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Silence (monitoring.activity-log, DESIGN 3.3): a subscription in scope
// that has sent nothing through the Activity Log for longer than the policy's
// silence is one the guard has gone blind to, whatever its diagnostic
// settings say. Nothing arrives to say so, so the sweep looks (checkSilence),
// against when the guard last heard from each subscription, which the
// pipeline keeps in the subscription's own partition (heard).
//
// Only subscriptions named in scope.subscriptions are judged: with an empty
// scope (every subscription) the guard cannot know which ones should be
// talking, so none is.

// HeardEvery bounds what keeping "last heard" costs: each process writes it
// at most once per HeardEvery for each subscription (on Cosmos DB, one
// transactional batch in the subscription's partition), however many records
// arrive. The time kept may therefore be up to HeardEvery older than the last
// record really heard, and a subscription is reported silent only once
// silence plus HeardEvery has passed since it (Heard.Slack), so that the
// shortcut never makes a false alarm.
const HeardEvery = 15 * time.Minute

// TypeHeard is the Type of the small state that says when the guard last
// heard from a subscription, kept as the state of the subscription's own ID
// (SubscriptionID), in its partition. No rule judges it.
const TypeHeard = "exportguard/activityLogHeard"

// Heard is when the guard last heard from a subscription through the Activity
// Log.
type Heard struct {
	SubscriptionID string
	// At is when a record from the subscription was last received; when
	// Watching, when the guard began watching it, having heard nothing since.
	At       time.Time
	Watching bool
	// Slack is how much later than At a record may have been heard and not
	// written (HeardEvery).
	Slack time.Duration
	// Trigger is the event heard, when the verdict is about one arriving.
	Trigger Trigger
}

// SilenceRule is a rule about subscriptions the guard stopped hearing from.
type SilenceRule interface {
	Rule
	// Silence judges a subscription in scope by when it was last heard from:
	// a violation when it has been silent for longer than the policy allows,
	// a compliant verdict when in.Now is h.At (a record has just arrived), and
	// nothing otherwise.
	Silence(in Input, h Heard) []Verdict
}

// heardBody is the body of the TypeHeard state.
type heardBody struct {
	LastHeard time.Time `json:"lastHeard"`
	Watching  bool      `json:"watching,omitempty"`
}

// heardMemo is what this process last wrote of each subscription, so that it
// writes at most once per HeardEvery.
type heardMemo struct {
	mu sync.Mutex
	at map[string]time.Time
}

// due reports whether sub's last heard time should be written at now.
func (m *heardMemo) due(sub string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	last, ok := m.at[sub]
	return !ok || now.Sub(last) >= HeardEvery || now.Before(last)
}

func (m *heardMemo) note(sub string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.at == nil {
		m.at = map[string]time.Time{}
	}
	m.at[sub] = now
}

// memoInit guards the lazy creation of a pipeline's heardMemo (a Pipeline is
// a struct literal, and replay copies it).
var memoInit sync.Mutex

func (p *Pipeline) memo() *heardMemo {
	memoInit.Lock()
	defer memoInit.Unlock()
	if p.heardAt == nil {
		p.heardAt = &heardMemo{}
	}
	return p.heardAt
}

// silenceRule returns the enabled SilenceRule, or nil.
func (p *Pipeline) silenceRule() SilenceRule {
	for _, r := range p.Rules {
		if s, ok := r.(SilenceRule); ok && p.Policy.RuleMode(r.ID()) != ModeOff {
			return s
		}
	}
	return nil
}

// watched returns the subscriptions judged for silence: those scope.subscriptions
// names (none when it is empty), in lower case, once each.
func (p *Pipeline) watched() []string {
	var subs []string
	for _, s := range p.Policy.Scope.Subscriptions {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" && !slices.Contains(subs, s) {
			subs = append(subs, s)
		}
	}
	return subs
}

// heard notes that records arrived from the subscriptions of cs (one Event
// Hubs delivery of Activity Log records, whatever their outcome or type),
// writing for each watched one when it is due (HeardEvery), and resolving its
// silence finding. That resolution rests on records arriving, not on an ARM
// read: for silence, records arriving are the ground truth, as an ARM read is
// for a resource's state (in the spirit of DESIGN 3.6, the finding moves on
// what settles the question, never on what merely suggests it).
func (p *Pipeline) heard(ctx context.Context, cs []Change, now time.Time) error {
	rule := p.silenceRule()
	if rule == nil {
		return nil
	}
	watched, memo := p.watched(), p.memo()
	var errs []error
	done := map[string]bool{}
	for _, c := range cs {
		sub := strings.ToLower(strings.TrimSpace(c.SubscriptionID))
		if done[sub] || !slices.Contains(watched, sub) || !memo.due(sub, now) {
			continue
		}
		done[sub] = true
		h := Heard{SubscriptionID: sub, At: now.UTC(), Slack: HeardEvery,
			Trigger: Trigger{Source: c.Source, EventID: c.EventID, CorrelationID: c.CorrelationID, Caller: c.Caller}}
		if err := p.writeHeard(ctx, rule, h, c); err != nil {
			errs = append(errs, err)
			continue
		}
		memo.note(sub, now)
	}
	return errors.Join(errs...)
}

// writeHeard keeps h as the subscription's last heard time, unless a later one
// is kept already, and resolves its silence finding, as one unit.
func (p *Pipeline) writeHeard(ctx context.Context, rule SilenceRule, h Heard, c Change) error {
	id := SubscriptionID(h.SubscriptionID)
	var u *unit
	err := p.Store.Batch(ctx, func(ctx context.Context) error {
		u = &unit{trig: h.Trigger, now: h.At, kind: AuditChange, subject: id, own: PartitionOf(id),
			facts: changeAudit{Operation: c.Operation, Source: c.Source, EventID: c.EventID,
				CorrelationID: c.CorrelationID, Caller: c.Caller, EventTime: c.EventTime}}
		switch kept, err := p.Store.GetResource(ctx, id); {
		case err == nil && (kept.ObservedAt.After(h.At) || kept.ObservedAt.Equal(h.At) && !heardOf(kept).Watching):
			return nil // a later record was heard already (a late delivery, a replay run again)
		case err != nil && !errors.Is(err, ErrNotFound):
			return fmt.Errorf("get when %s was last heard from: %w", h.SubscriptionID, err)
		}
		body, _ := json.Marshal(heardBody{LastHeard: h.At})
		if err := p.Store.PutResource(ctx, &Resource{ID: id, Type: TypeHeard, ObservedAt: h.At, Body: body}); err != nil {
			return fmt.Errorf("keep when %s was last heard from: %w", h.SubscriptionID, err)
		}
		if _, err := p.record(ctx, rule.Silence(Input{Policy: p.Policy, Now: h.At}, h), nil, nil, u); err != nil {
			return err
		}
		if len(u.moved) == 0 {
			return nil
		}
		return p.writeAudit(ctx, u)
	})
	if err != nil {
		return fmt.Errorf("note a record heard from subscription %s: %w", h.SubscriptionID, err)
	}
	u.logTransitions(p.log())
	return nil
}

// heardOf reads a TypeHeard state.
func heardOf(r *Resource) heardBody {
	var b heardBody
	_ = json.Unmarshal(r.Body, &b)
	if b.LastHeard.IsZero() {
		b.LastHeard = r.ObservedAt
	}
	return b
}

// checkSilence is the sweep's part of silence: each watched subscription
// heard from longer ago than the policy's silence (plus HeardEvery) gets a
// finding; one never heard from is watched from now on. It costs one point
// read per watched subscription, and a write only when a finding opens (or
// watching starts). Nothing here resolves a finding: records arriving do.
func (p *Pipeline) checkSilence(ctx context.Context, trig Trigger, now time.Time) (Summary, error) {
	var sum Summary
	rule := p.silenceRule()
	if rule == nil {
		return sum, nil
	}
	for _, sub := range p.watched() {
		id := SubscriptionID(sub)
		kept, err := p.Store.GetResource(ctx, id)
		if errors.Is(err, ErrNotFound) {
			body, _ := json.Marshal(heardBody{LastHeard: now.UTC(), Watching: true})
			if err := p.Store.PutResource(ctx, &Resource{ID: id, Type: TypeHeard, ObservedAt: now.UTC(), Body: body}); err != nil {
				return sum, fmt.Errorf("start watching subscription %s: %w", sub, err)
			}
			continue
		}
		if err != nil {
			return sum, fmt.Errorf("get when %s was last heard from: %w", sub, err)
		}
		b := heardOf(kept)
		vs := rule.Silence(Input{Policy: p.Policy, Now: now}, Heard{SubscriptionID: sub, At: b.LastHeard, Watching: b.Watching, Slack: HeardEvery})
		if !anyViolation(vs) {
			continue
		}
		if p.settled(ctx, vs, now) {
			continue // already open (or exempt): nothing to write
		}
		var s Summary
		var u *unit
		err = p.Store.Batch(ctx, func(ctx context.Context) error {
			u = newSweepUnit(trig, id, now)
			var err error
			if s, err = p.record(ctx, vs, nil, nil, u); err != nil {
				return err
			}
			return p.writeAudit(ctx, u)
		})
		if err != nil {
			return sum, fmt.Errorf("judge silence of subscription %s: %w", sub, err)
		}
		sum.Add(s)
		u.logTransitions(p.log())
	}
	return sum, nil
}

// settled reports whether every verdict's finding is in the state the verdict
// would give it already.
func (p *Pipeline) settled(ctx context.Context, vs []Verdict, now time.Time) bool {
	for _, v := range vs {
		f, err := p.Store.GetFinding(ctx, FindingID(v.Rule, v.ResourceID, v.GrantID))
		if err != nil || f.Status != statusOf(p.Policy, v, now) {
			return false
		}
	}
	return true
}
