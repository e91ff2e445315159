package guard

import (
	"context"
	"fmt"
	"time"
)

// Sweep is the timer's work: the checks that no event triggers. It re-reads every
// resource that has a finding still open or exempt, so that a fix whose event was
// lost still resolves, and an exemption that expired reopens its finding.
func (p *Pipeline) Sweep(ctx context.Context, now time.Time) (Summary, error) {
	var sum Summary
	trig := Trigger{Source: SourceTimer, EventID: "sweep-" + now.UTC().Format(time.RFC3339)}
	seen := map[string]bool{}
	for _, st := range []Status{StatusOpen, StatusExempt} {
		fs, err := p.Store.ListFindings(ctx, FindingFilter{Status: st})
		if err != nil {
			return sum, fmt.Errorf("sweep: list %s findings: %w", st, err)
		}
		for _, f := range fs {
			key := IDKey(f.ResourceID)
			if seen[key] || !p.Policy.InScope(f.SubscriptionID) {
				continue
			}
			seen[key] = true
			res, err := p.read(ctx, f.ResourceID, TypeOf(f.ResourceID), now)
			if err != nil {
				return sum, fmt.Errorf("sweep: %w", err)
			}
			if res == nil {
				continue
			}
			s, err := p.judge(ctx, res, trig, now)
			sum.Add(s)
			if err != nil {
				return sum, fmt.Errorf("sweep: %w", err)
			}
		}
	}
	return sum, nil
}
