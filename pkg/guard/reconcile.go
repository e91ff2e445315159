package guard

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"
)

// The reconcile (DESIGN 1): every judged resource re-checked in bulk, once a
// day, so that what no event told (a fix whose event was lost, a resource the
// guard never saw change) is still judged. The sweep does only what falls due
// (sweep.go); this is the rest. The reconcile timer and `scan` feed it states
// read through Azure Resource Graph (Reconcile), and the IDs of resources the
// store knows that Resource Graph no longer lists (Recheck).
//
// Each resource is one atomic unit of the store (a Batch) with its audit
// record (Kind "sweep", trigger "reconcile-<time>"). A read that fails does
// not stop the others; the failures are returned together at the end. A store
// failure, or the context ending, stops at once.

// Reconcile judges states read in bulk, as the reconcile timer and `scan` read
// them (Resource Graph rows). Such a state is not ARM's word (DESIGN 3.6): it
// may open a finding or keep it open, like a state an event carried, and a
// resolution it suggests is confirmed by an ARM read of that resource (and
// what ARM answers is judged and kept). A state out of scope, or of a type no
// rule judges, is skipped. A state the store already knows from ARM replaces
// nothing it knows.
func (p *Pipeline) Reconcile(ctx context.Context, now time.Time, states iter.Seq[*Resource]) (Summary, error) {
	ctx = withReadCache(ctx)
	trig := timerTrigger("reconcile", now)
	var sum Summary
	var readErrs []error
	for st := range states {
		if st == nil || !p.Policy.InScope(SubscriptionOf(st.ID)) || !p.judged(st.Type) {
			sum.Skipped++
			continue
		}
		carried := *st
		carried.FromEvent = true // a row may open; only ARM resolves
		if carried.ObservedAt.IsZero() || carried.ObservedAt.After(now) {
			carried.ObservedAt = now.UTC()
		}
		s, err := p.judgeCarried(ctx, &carried, trig, now)
		sum.Add(s)
		if err == nil {
			continue
		}
		if errors.Is(err, errStore) || ctx.Err() != nil {
			return sum, fmt.Errorf("reconcile: %w", errors.Join(append(readErrs, err)...))
		}
		p.log().Warn("reconcile: resource not confirmed", "resourceId", st.ID, "error", err.Error())
		readErrs = append(readErrs, err)
	}
	if len(readErrs) > 0 {
		return sum, fmt.Errorf("reconcile: %d resource(s) not confirmed: %w", len(readErrs), errors.Join(readErrs...))
	}
	return sum, nil
}

// Recheck reads each resource from ARM and judges what ARM answers, which may
// open, keep, resolve (a compliant state, a 404 for a resource known) or
// exempt findings: the reconcile's word on the resources the store knows that
// Resource Graph no longer lists, and RecheckOpen's. A resource ARM has no
// answer about (ErrUnknown) is left as it is.
func (p *Pipeline) Recheck(ctx context.Context, now time.Time, ids []string) (Summary, error) {
	ctx = withReadCache(ctx)
	var readErrs []error
	sum, err := p.recheckAll(ctx, ids, timerTrigger("reconcile", now), now, &readErrs)
	if err != nil {
		return sum, fmt.Errorf("recheck: %w", errors.Join(append(readErrs, err)...))
	}
	if len(readErrs) > 0 {
		return sum, fmt.Errorf("recheck: %d resource(s) not re-checked: %w", len(readErrs), errors.Join(readErrs...))
	}
	return sum, nil
}

// RecheckOpen re-checks, from ARM, every resource in scope with a finding
// open or exempt: the reconcile for a pipeline that has no Resource Graph (a
// recorded session's replay, where ARM is the session's arm lines). It costs
// one read per such resource; it is never the sweep's work.
func (p *Pipeline) RecheckOpen(ctx context.Context, now time.Time) (Summary, error) {
	var ids []string
	seen := map[string]bool{}
	for _, st := range []Status{StatusOpen, StatusExempt} {
		fs, err := p.Store.ListFindings(ctx, FindingFilter{Status: st})
		if err != nil {
			return Summary{}, fmt.Errorf("recheck: list %s findings: %w", st, err)
		}
		for _, f := range fs {
			if key := IDKey(f.ResourceID); !seen[key] && p.Policy.InScope(f.SubscriptionID) {
				seen[key] = true
				ids = append(ids, f.ResourceID)
			}
		}
	}
	return p.Recheck(ctx, now, ids)
}

// RecheckOpenAmong is RecheckOpen for the resources among ids (or whose child
// is among them: a SQL server's encryption protector, a storage account's blob
// services) that have a finding open or exempt: the reconcile of a replay,
// which knows which resources' answers its session changed since the last
// one (package replay). Each id costs one lookup of findings per resource it
// names or lies below, not a listing of every open finding.
func (p *Pipeline) RecheckOpenAmong(ctx context.Context, now time.Time, ids []string) (Summary, error) {
	var out []string
	seen := map[string]bool{}
	for _, id := range ids {
		for r := id; r != ""; r = ParentOf(r) {
			key := IDKey(r)
			if seen[key] {
				continue
			}
			seen[key] = true
			fs, err := p.Store.ListFindings(ctx, FindingFilter{ResourceID: r})
			if err != nil {
				return Summary{}, fmt.Errorf("recheck: findings of %s: %w", r, err)
			}
			for _, f := range fs {
				if (f.Status == StatusOpen || f.Status == StatusExempt) && p.Policy.InScope(f.SubscriptionID) {
					out = append(out, f.ResourceID)
					break
				}
			}
		}
	}
	return p.Recheck(ctx, now, out)
}

// recheckAll reads each resource and judges it (recheck). Reads that fail are
// logged and collected in readErrs; an error returned stops it (the store
// failed, or the context ended).
func (p *Pipeline) recheckAll(ctx context.Context, ids []string, trig Trigger, now time.Time, readErrs *[]error) (Summary, error) {
	var sum Summary
	for _, id := range ids {
		res, err := p.read(ctx, id, TypeOf(id), now)
		if errors.Is(err, ErrUnknown) {
			continue // no answer is not a deletion: the findings stay as they are
		}
		if err != nil {
			if ctx.Err() != nil {
				return sum, err
			}
			p.log().Warn("resource not re-checked", "resourceId", id, "trigger", trig.EventID, "error", err.Error())
			*readErrs = append(*readErrs, err)
			continue
		}
		if res == nil {
			continue
		}
		s, err := p.recheck(ctx, res, trig, now)
		sum.Add(s)
		if err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// recheck judges a resource's state read from ARM, as one atomic unit: the
// findings it moves, their records and outbox items, and the state kept.
func (p *Pipeline) recheck(ctx context.Context, res *Resource, trig Trigger, now time.Time) (Summary, error) {
	var sum Summary
	var u *unit
	err := p.Store.Batch(ctx, func(ctx context.Context) error {
		u = newSweepUnit(trig, res.ID, now)
		s, keep, err := p.judge(ctx, res, u)
		sum = s
		if err != nil {
			return err
		}
		if err := p.writeAudit(ctx, u); err != nil {
			return err
		}
		return p.keepState(ctx, keep)
	})
	if err != nil {
		return Summary{}, fmt.Errorf("re-check %s: %w", res.ID, err)
	}
	u.logTransitions(p.log())
	return sum, nil
}

// errStore marks a failure of the store (not of an ARM read) in judgeCarried.
var errStore = errors.New("store")

// judgeCarried judges a state read in bulk as one atomic unit; when its
// verdicts would resolve findings, ARM is read and what it answers judged in
// the same unit (as a change does with a state its event carried). An error
// wrapping errStore is the store's; any other is the confirming read's. Either
// leaves nothing stored.
func (p *Pipeline) judgeCarried(ctx context.Context, res *Resource, trig Trigger, now time.Time) (Summary, error) {
	var sum Summary
	var u *unit
	var readErr error
	err := p.Store.Batch(ctx, func(ctx context.Context) error {
		sum, readErr = Summary{}, nil
		u = newSweepUnit(trig, res.ID, now)
		s, keep, err := p.judge(ctx, res, u)
		sum.Add(s)
		if err != nil {
			return err
		}
		if s.Unconfirmed > 0 {
			// Only ARM may resolve (DESIGN 3.6): read it, and judge its answer.
			arm, err := p.read(ctx, res.ID, res.Type, now)
			switch {
			case errors.Is(err, ErrUnknown):
			case err != nil:
				readErr = err
				return err
			case arm != nil:
				s, confirmed, err := p.judge(ctx, arm, u)
				sum.Add(s)
				if err != nil {
					return err
				}
				if confirmed != nil {
					keep = confirmed
				}
			}
		}
		if err := p.writeAudit(ctx, u); err != nil {
			return err
		}
		return p.keepState(ctx, keep)
	})
	switch {
	case err == nil:
		u.logTransitions(p.log())
		return sum, nil
	case readErr != nil:
		return Summary{}, fmt.Errorf("confirm %s: %w", res.ID, readErr)
	}
	return Summary{}, fmt.Errorf("judge %s: %w: %w", res.ID, errStore, err)
}
