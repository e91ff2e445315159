package guard

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sweep is the timer's work: the checks that no event triggers. It re-reads every
// resource that has a finding still open or exempt, so that a fix whose event was
// lost still resolves, and an exemption that expired reopens its finding.
//
// Each resource re-checked, and each grant checked, is an atomic unit of the
// store of its own (a Batch), with one audit record (Kind "sweep") in each
// partition whose findings it moved. At the end, the sweep seals the heads of
// the partitions' chains (seal_write.go).
//
// A resource ARM fails to read (403, 429, 500, ...) does not stop the sweep: the
// others are still re-checked, and the read failures are returned together at
// the end. A store failure stops it at once.
func (p *Pipeline) Sweep(ctx context.Context, now time.Time) (Summary, error) {
	ctx = withReadCache(ctx)
	var sum Summary
	var readErrs []error
	trig := Trigger{Source: SourceTimer, EventID: "sweep-" + now.UTC().Format(time.RFC3339)}
	seen := map[string]bool{}
	for _, st := range []Status{StatusOpen, StatusExempt} {
		fs, err := p.Store.ListFindings(ctx, FindingFilter{Status: st})
		if err != nil {
			return sum, fmt.Errorf("sweep: list %s findings: %w", st, errors.Join(append(readErrs, err)...))
		}
		for _, f := range fs {
			key := IDKey(f.ResourceID)
			if seen[key] || !p.Policy.InScope(f.SubscriptionID) {
				continue
			}
			seen[key] = true
			res, err := p.read(ctx, f.ResourceID, TypeOf(f.ResourceID), now)
			if errors.Is(err, ErrUnknown) {
				continue // no answer is not a deletion: the findings stay as they are
			}
			if err != nil {
				if ctx.Err() != nil {
					return sum, fmt.Errorf("sweep: %w", errors.Join(append(readErrs, err)...))
				}
				p.log().Warn("sweep: resource not re-checked", "resourceId", f.ResourceID, "error", err.Error())
				readErrs = append(readErrs, err)
				continue
			}
			if res == nil {
				continue
			}
			s, err := p.recheck(ctx, res, trig, now)
			sum.Add(s)
			if err != nil {
				return sum, fmt.Errorf("sweep: %w", errors.Join(append(readErrs, err)...))
			}
		}
	}
	s, err := p.checkGrants(ctx, trig, now, &readErrs)
	sum.Add(s)
	if err != nil {
		return sum, fmt.Errorf("sweep: %w", errors.Join(append(readErrs, err)...))
	}
	s, err = p.checkSilence(ctx, trig, now) // silence.go
	sum.Add(s)
	if err != nil {
		return sum, fmt.Errorf("sweep: %w", errors.Join(append(readErrs, err)...))
	}
	// Deliver what is due (retries included) even when some reads failed.
	if err := p.dispatch(ctx, now); err != nil {
		return sum, fmt.Errorf("sweep: %w", errors.Join(append(readErrs, err)...))
	}
	// Seal what every partition's chain holds now, this sweep's records too.
	if err := p.seal(ctx, now); err != nil {
		return sum, fmt.Errorf("sweep: %w", errors.Join(append(readErrs, err)...))
	}
	if len(readErrs) > 0 {
		return sum, fmt.Errorf("sweep: %d resource(s) not re-checked: %w", len(readErrs), errors.Join(readErrs...))
	}
	return sum, nil
}

// checkGrants judges every grant that is due: its window (plus grace) is over,
// so it must be gone. Grants found gone are forgotten; the others stay due and
// are checked again at the next sweep.
func (p *Pipeline) checkGrants(ctx context.Context, trig Trigger, now time.Time, readErrs *[]error) (Summary, error) {
	var sum Summary
	gs, err := p.Store.DueGrants(ctx, now)
	if err != nil {
		return sum, fmt.Errorf("list due grants: %w", err)
	}
	for _, g := range gs {
		rule := p.grantRule(g.Rule, g.Kind)
		if rule == nil || !p.Policy.InScope(SubscriptionOf(g.ResourceID)) {
			p.log().Info("grant forgotten: its rule is off or it is out of scope", "grantId", g.ID, "rule", g.Rule)
			if err := p.Store.DeleteGrant(ctx, g.ID); err != nil {
				return sum, fmt.Errorf("forget grant %s: %w", g.ID, err)
			}
			continue
		}
		res, err := p.read(ctx, g.ResourceID, TypeOf(g.ResourceID), now)
		if errors.Is(err, ErrUnknown) {
			continue // no answer is not a deletion: the grant stays due
		}
		if err != nil {
			if ctx.Err() != nil {
				return sum, err
			}
			p.log().Warn("sweep: grant not checked", "grantId", g.ID, "resourceId", g.ResourceID, "error", err.Error())
			*readErrs = append(*readErrs, err)
			continue
		}
		if res == nil {
			res = &Resource{ID: g.ResourceID, Type: TypeOf(g.ResourceID), Deleted: true, ObservedAt: now.UTC()}
		}
		in := Input{Policy: p.Policy, Resource: res, Now: now}
		if gt, ok := rule.(Gatherer); ok && !res.Deleted {
			if in.Related, err = p.gather(ctx, gt, res); err != nil {
				*readErrs = append(*readErrs, err)
				continue
			}
		}
		vs := rule.CheckGrant(g, in)
		var gs Summary
		var u *unit
		err = p.Store.Batch(ctx, func(ctx context.Context) error {
			u = newSweepUnit(trig, g.ResourceID, now)
			var err error
			if gs, err = p.applyAll(ctx, vs, res, nil, u); err != nil {
				return err
			}
			if err := p.writeAudit(ctx, u); err != nil {
				return err
			}
			if !anyViolation(vs) {
				if err := p.Store.DeleteGrant(ctx, g.ID); err != nil {
					return fmt.Errorf("forget checked grant %s: %w", g.ID, err)
				}
			}
			return nil
		})
		if err != nil {
			return sum, fmt.Errorf("check grant %s: %w", g.ID, err)
		}
		sum.Add(gs)
		u.logTransitions(p.log())
	}
	return sum, nil
}

// recheck judges a resource's state the sweep read, as one atomic unit: the
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

func (p *Pipeline) grantRule(id, kind string) GrantRule {
	if p.Policy.RuleMode(id) == ModeOff {
		return nil
	}
	for _, r := range p.Rules {
		if gr, ok := r.(GrantRule); ok && r.ID() == id && gr.GrantKind() == kind {
			return gr
		}
	}
	return nil
}

func anyViolation(vs []Verdict) bool {
	for _, v := range vs {
		if v.Violation {
			return true
		}
	}
	return false
}
