package guard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// State and rules: what a resource's state is after a change (carried by its
// event, or read from ARM), and what the rules make of it against the state
// before. Every finding a verdict moves is moved in the unit's Batch
// (transition.go).

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
func (p *Pipeline) confirm(ctx context.Context, carried *Resource, u *unit) (Summary, *Resource, error) {
	res, err := p.read(ctx, carried.ID, carried.Type, u.now)
	switch {
	case errors.Is(err, ErrUnknown):
		return Summary{}, nil, nil
	case err != nil:
		return Summary{}, nil, err
	case res == nil:
		return Summary{}, nil, nil
	}
	return p.judge(ctx, res, u)
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
func (p *Pipeline) judge(ctx context.Context, res *Resource, u *unit) (Summary, *Resource, error) {
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
		s, err := p.closeAll(ctx, res.ID, u)
		if err == nil {
			var d Summary
			d, err = p.settleDeleted(ctx, res, prev, u)
			s.Add(d)
		}
		return s, res, err
	}
	s, err := p.evaluate(ctx, res, prev, u)
	if res.FromEvent && prev != nil && !prev.FromEvent {
		return s, nil, err
	}
	return s, res, err
}

// evaluate runs the rules over a state and moves the findings their verdicts
// are about.
func (p *Pipeline) evaluate(ctx context.Context, res, prev *Resource, u *unit) (Summary, error) {
	var sum Summary
	var err error
	in := Input{Policy: p.Policy, Resource: res, Previous: prev, Now: u.now}
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
		if lg, ok := r.(ListGatherer); ok {
			if rin.Listed, err = p.gatherLists(ctx, lg, res); err != nil {
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
		s, err := p.record(ctx, r.Evaluate(rin), res, prev, u)
		sum.Add(s)
		if err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// settleDeleted asks the rules whose verdicts are about other resources what
// the deletion of res settles (DeletionRule).
func (p *Pipeline) settleDeleted(ctx context.Context, res, prev *Resource, u *unit) (Summary, error) {
	var sum Summary
	in := Input{Policy: p.Policy, Resource: res, Previous: prev, Now: u.now}
	for _, r := range p.Rules {
		d, ok := r.(DeletionRule)
		if !ok || p.Policy.RuleMode(r.ID()) == ModeOff || !r.Applies(res.Type) {
			continue
		}
		s, err := p.record(ctx, d.Deleted(in), res, prev, u)
		sum.Add(s)
		if err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// record notes the verdicts for the unit's audit records and moves the
// findings they are about.
func (p *Pipeline) record(ctx context.Context, vs []Verdict, res, prev *Resource, u *unit) (Summary, error) {
	for _, v := range vs {
		u.verdict(v)
	}
	return p.applyAll(ctx, vs, res, prev, u)
}

// applyAll moves the findings the verdicts are about.
func (p *Pipeline) applyAll(ctx context.Context, vs []Verdict, res, prev *Resource, u *unit) (Summary, error) {
	var sum Summary
	for _, v := range vs {
		sum.Verdicts++
		moved, err := p.updateFinding(ctx, FindingID(v.Rule, v.ResourceID, v.GrantID), v, SubscriptionOf(v.ResourceID), res, prev, u)
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
func (p *Pipeline) closeAll(ctx context.Context, id string, u *unit) (Summary, error) {
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
		moved, err := p.updateFinding(ctx, f.ID, v, f.SubscriptionID, nil, nil, u)
		if err != nil {
			return sum, err
		}
		if moved == moveChanged {
			sum.Transitions++
		}
	}
	return sum, nil
}
