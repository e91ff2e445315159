package guard

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sweep is the timer's work: what falls due, and only that (DESIGN 1). Its ARM
// reads are the due items, never the open findings: a sweep over 5,000 open
// findings with 3 grants due reads 3 resources. Re-checking every judged
// resource, so that a fix whose event was lost still resolves, is the
// reconcile's (reconcile.go), in bulk and once a day.
//
// The due work is the list of steps below, run in order: grants past their end
// plus grace, exempt findings whose exemption expired or left the policy, the
// outbox items due, and last the seal of every partition's chain (seal_write.go),
// this sweep's records too. Each resource judged is an atomic unit of the store
// of its own (a Batch), with one audit record (Kind "sweep") in each partition
// whose findings it moved.
//
// A resource ARM fails to read (403, 429, 500, ...) does not stop the sweep: the
// others are still checked, and the read failures are returned together at the
// end. A store failure stops it at once.
func (p *Pipeline) Sweep(ctx context.Context, now time.Time) (Summary, error) {
	ctx = withReadCache(ctx)
	s := &sweepRun{trig: timerTrigger("sweep", now), now: now}
	steps := []sweepStep{
		{"grants", p.sweepGrants},         // JIT and PIM grants whose window (plus grace) is over
		{"exemptions", p.sweepExemptions}, // exempt findings whose exemption expired or left the policy
		{"silence", p.sweepSilence},       // subscriptions in scope that sent nothing for too long (silence.go)
		{"outbox", p.sweepOutbox},         // notifications and remediations due, retries included
		{"seal", p.sweepSeal},             // last: seal what every partition's chain holds now
	}
	for _, step := range steps {
		if err := step.run(ctx, s); err != nil {
			return s.sum, fmt.Errorf("sweep: %s: %w", step.name, errors.Join(append(s.readErrs, err)...))
		}
	}
	if len(s.readErrs) > 0 {
		return s.sum, fmt.Errorf("sweep: %d resource(s) not checked: %w", len(s.readErrs), errors.Join(s.readErrs...))
	}
	return s.sum, nil
}

// sweepRun is what one sweep's steps share.
type sweepRun struct {
	trig     Trigger
	now      time.Time
	sum      Summary
	readErrs []error // ARM reads that failed: reported at the end, after every step ran
}

// sweepStep is one kind of due work. An error it returns stops the sweep (the
// store failed, the context ended); a read that fails goes to readErrs.
type sweepStep struct {
	name string
	run  func(ctx context.Context, s *sweepRun) error
}

func timerTrigger(kind string, now time.Time) Trigger {
	return Trigger{Source: SourceTimer, EventID: kind + "-" + now.UTC().Format(time.RFC3339)}
}

func (p *Pipeline) sweepGrants(ctx context.Context, s *sweepRun) error {
	sum, err := p.checkGrants(ctx, s.trig, s.now, &s.readErrs)
	s.sum.Add(sum)
	return err
}

// sweepExemptions finds, in the store, the exempt findings whose exemption no
// longer covers them (expired, or gone from the policy), without asking ARM,
// and re-judges only their resources: a finding still exempt costs no read.
func (p *Pipeline) sweepExemptions(ctx context.Context, s *sweepRun) error {
	fs, err := p.Store.ListFindings(ctx, FindingFilter{Status: StatusExempt})
	if err != nil {
		return fmt.Errorf("list exempt findings: %w", err)
	}
	var due []string
	seen := map[string]bool{}
	for _, f := range fs {
		if _, ok := p.Policy.Exemption(f.Rule, f.ResourceID, s.now); ok || seen[IDKey(f.ResourceID)] || !p.Policy.InScope(f.SubscriptionID) {
			continue
		}
		seen[IDKey(f.ResourceID)] = true
		due = append(due, f.ResourceID)
	}
	sum, err := p.recheckAll(ctx, due, s.trig, s.now, &s.readErrs)
	s.sum.Add(sum)
	return err
}

func (p *Pipeline) sweepSilence(ctx context.Context, s *sweepRun) error {
	sum, err := p.checkSilence(ctx, s.trig, s.now)
	s.sum.Add(sum)
	return err
}

func (p *Pipeline) sweepOutbox(ctx context.Context, s *sweepRun) error { return p.dispatch(ctx, s.now) }

func (p *Pipeline) sweepSeal(ctx context.Context, s *sweepRun) error { return p.seal(ctx, s.now) }

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
