package guard

import (
	"context"
	"fmt"
	"time"
)

// The finding state machine (open, resolved, exempt) and what follows from a
// transition: its place in the unit's audit record and its outbox items
// (notifications, remediation plans), all written in the unit's Batch with
// the finding, so a transition is stored and told together or not at all.

// move is what updateFinding did with a verdict.
type move int

const (
	moveNone        move = iota // the finding stays in its state
	moveChanged                 // the finding changed state
	moveUnconfirmed             // it would have resolved, on a state an event carried: left for ARM to confirm
)

// updateFinding moves a finding through its states (open, resolved, exempt)
// and reports whether it changed state. A transition is noted for the unit's
// audit record and planned (plan); a repeated verdict only moves lastSeen. A
// verdict on a state an event carried (res.FromEvent) may open a finding or
// keep it open, never resolve it (DESIGN 3.6).
func (p *Pipeline) updateFinding(ctx context.Context, id string, v Verdict, sub string, res, prev *Resource, u *unit) (move, error) {
	now := u.now
	var from, to Status
	unconfirmed := false
	stored, err := p.Store.UpdateFinding(ctx, PartitionOf(v.ResourceID), id, func(cur *Finding) (*Finding, error) {
		from, to, unconfirmed = "", "", false
		next := nextFinding(cur, p.Policy, v, id, sub, u.trig, now)
		if next == nil {
			return nil, nil
		}
		if next.Status == StatusResolved && res != nil && res.FromEvent {
			unconfirmed = true
			return nil, nil
		}
		if cur != nil {
			from = cur.Status
		}
		to = next.Status
		return next, nil
	})
	if err != nil {
		return moveNone, fmt.Errorf("update finding %s (%s on %s): %w", id, v.Rule, v.ResourceID, err)
	}
	if unconfirmed {
		p.log().Info("finding not resolved on a state an event carried; asking ARM", "findingId", id, "rule", v.Rule, "resourceId", v.ResourceID)
		return moveUnconfirmed, nil
	}
	if from == to {
		return moveNone, nil
	}
	u.transition(*stored, from, v.Message)
	if err := p.plan(ctx, Transition{Finding: *stored, From: from, Verdict: v, Resource: res, Previous: prev}, now); err != nil {
		return moveChanged, err
	}
	return moveChanged, nil
}

// sameTrigger reports whether two triggers name the same event.
func sameTrigger(a, b Trigger) bool {
	return a.Source == b.Source && a.EventID == b.EventID && a.CorrelationID == b.CorrelationID
}

// plan enqueues what the planners make of a transition, in the partition of
// the finding it is about.
func (p *Pipeline) plan(ctx context.Context, t Transition, now time.Time) error {
	part := PartitionOf(t.Finding.ResourceID)
	for _, pl := range p.Planners {
		items, err := pl.Plan(ctx, t)
		if err != nil {
			return fmt.Errorf("plan for finding %s: %w", t.Finding.ID, err)
		}
		for _, it := range items {
			it.Partition = part
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
		n.Evidence[EvidenceResolution] = resolutionEvidence(v)
		return &n
	}
	status := StatusOpen
	evidence := copyEvidence(v.Evidence)
	if ex, ok := pol.Exemption(v.Rule, v.ResourceID, now); ok {
		status = StatusExempt
		evidence[EvidenceExemption] = exemptionEvidence(ex)
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
		n.Evidence[EvidenceExemptionExpired] = cur.Evidence[EvidenceExemption] // what covered it until now
	case cur.Evidence[EvidenceExemptionExpired] != nil:
		n.Evidence[EvidenceExemptionExpired] = cur.Evidence[EvidenceExemptionExpired]
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
			if rec, ok := cur.Evidence[EvidenceRemediation]; ok {
				n.Evidence[EvidenceRemediation] = rec
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
