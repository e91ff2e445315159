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
// A resource ARM fails to read (403, 429, 500, ...) does not stop the sweep: the
// others are still re-checked, and the read failures are returned together at
// the end. A store failure stops it at once.
func (p *Pipeline) Sweep(ctx context.Context, now time.Time) (Summary, error) {
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
			s, err := p.judge(ctx, res, trig, now)
			sum.Add(s)
			if err != nil {
				return sum, fmt.Errorf("sweep: %w", errors.Join(append(readErrs, err)...))
			}
		}
	}
	if len(readErrs) > 0 {
		return sum, fmt.Errorf("sweep: %d resource(s) not re-checked: %w", len(readErrs), errors.Join(readErrs...))
	}
	return sum, nil
}
