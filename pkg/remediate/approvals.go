package remediate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// Errors of Approve and Deny. They wrap guard.ErrNotFound (nothing to act on)
// or guard.ErrConflict (the plan is not in a state to be decided), so that the
// API can answer 404 or 409.
var (
	ErrNoPlan         = fmt.Errorf("no remediation plan awaits approval there: %w", guard.ErrNotFound)
	ErrNotAwaiting    = fmt.Errorf("the remediation plan does not await approval: %w", guard.ErrConflict)
	ErrExpired        = fmt.Errorf("the remediation plan's approval deadline has passed: %w", guard.ErrConflict)
	ErrFindingMoved   = fmt.Errorf("the finding is no longer open from the transition the plan was made for: %w", guard.ErrConflict)
	ErrReasonRequired = errors.New("a reason is required")
	ErrNoApprover     = errors.New("an approver is required")
)

// Plan states, as Approvals.List reports them.
const (
	StateAwaiting = "awaiting-approval" // waits for a person
	StateApproved = "approved"          // approved, to run (or retrying)
	StatePlanned  = "planned"           // auto, to run
	StateRetrying = "retrying"          // failed attempts, to run again
	StateFailed   = "failed"            // given up: denied, expired, refused or failed; LastError says why
)

// Pending is a remediation plan kept in the outbox.
type Pending struct {
	Item  guard.OutboxItem `json:"item"`
	Plan  Plan             `json:"plan"`
	State string           `json:"state"`
}

// Approvals lists remediation plans and lets a person approve or deny those that
// wait for one.
type Approvals struct {
	Store guard.Store
	// TTL is how long an approval is good for; DefaultApprovalTTL when 0.
	TTL time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

func (a *Approvals) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

// List returns every remediation plan kept in the outbox (pending and failed),
// oldest first. With a finding ID, only that finding's.
func (a *Approvals) List(ctx context.Context, findingID string) ([]Pending, error) {
	items, err := a.Store.ListOutbox(ctx)
	if err != nil {
		return nil, fmt.Errorf("remediate: list outbox: %w", err)
	}
	var out []Pending
	for _, it := range items {
		if it.Kind != Kind {
			continue
		}
		p, err := decodePlan(it.Payload)
		if err != nil {
			continue
		}
		if findingID != "" && p.FindingID != findingID {
			continue
		}
		out = append(out, Pending{Item: it, Plan: *p, State: stateOf(it, p)})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Plan.PlannedAt.Before(out[j].Plan.PlannedAt) })
	return out, nil
}

func stateOf(it guard.OutboxItem, p *Plan) string {
	switch {
	case it.Failed:
		return StateFailed
	case p.awaiting():
		return StateAwaiting
	case p.Approval != nil:
		return StateApproved
	case it.Attempts > 0:
		return StateRetrying
	}
	return StatePlanned
}

// find returns the plan awaiting approval that ref names: an item ID, or a
// finding ID.
func (a *Approvals) find(ctx context.Context, ref string) (Pending, error) {
	ref = strings.TrimSpace(ref)
	all, err := a.List(ctx, "")
	if err != nil {
		return Pending{}, err
	}
	matched := false
	for i := len(all) - 1; i >= 0; i-- { // the latest plan first
		p := all[i]
		if p.Item.ID != ref && p.Plan.FindingID != ref && p.Plan.ID != ref {
			continue
		}
		matched = true
		if p.State == StateAwaiting {
			return p, nil
		}
	}
	if matched {
		return Pending{}, ErrNotAwaiting
	}
	return Pending{}, ErrNoPlan
}

// check makes sure a plan may still be decided.
func (a *Approvals) check(ctx context.Context, p Pending, now time.Time) error {
	f, err := a.Store.GetFinding(ctx, p.Plan.FindingID)
	if errors.Is(err, guard.ErrNotFound) {
		return ErrFindingMoved
	}
	if err != nil {
		return fmt.Errorf("remediate: read finding %s: %w", p.Plan.FindingID, err)
	}
	if f.Status != guard.StatusOpen || !sameTrigger(f.Trigger, p.Plan.Trigger) {
		return ErrFindingMoved
	}
	if !p.Plan.ApproveBy.IsZero() && !now.Before(p.Plan.ApproveBy) {
		return ErrExpired
	}
	return nil
}

func validDecision(who Approver, reason string) error {
	if strings.TrimSpace(reason) == "" {
		return ErrReasonRequired
	}
	if strings.TrimSpace(who.ObjectID) == "" && strings.TrimSpace(who.Name) == "" {
		return ErrNoApprover
	}
	return nil
}

// Approve approves the plan that ref (an item or finding ID) names on behalf of
// who, with a reason: it enqueues the plan again, approved and due at once
// (from the time it was planned), and completes the waiting item. The approval
// expires after TTL. It returns the approved plan.
func (a *Approvals) Approve(ctx context.Context, ref string, who Approver, reason string) (*Plan, error) {
	if err := validDecision(who, reason); err != nil {
		return nil, err
	}
	p, err := a.find(ctx, ref)
	if err != nil {
		return nil, err
	}
	now := a.now()
	if err := a.check(ctx, p, now); err != nil {
		return nil, err
	}
	ttl := a.TTL
	if ttl <= 0 {
		ttl = DefaultApprovalTTL
	}
	plan := p.Plan
	plan.Approval = &Approval{Approver: who, Reason: strings.TrimSpace(reason), At: now, ExpiresAt: now.Add(ttl)}
	raw, err := encodePlan(&plan)
	if err != nil {
		return nil, err
	}
	// Due from the time it was planned: now in Azure, and in a replay of the
	// session once the replay clock reaches the plan. The decision is one
	// atomic unit of the store, in the finding's partition: the approved twin,
	// the finding, the record and the waiting item, or none of them.
	twin := guard.OutboxItem{ID: approvedID(p.Item.ID), Partition: plan.partition(), Kind: Kind, Payload: raw, CreatedAt: now, NextAttempt: plan.PlannedAt}
	err = a.Store.Batch(ctx, func(ctx context.Context) error {
		if err := a.Store.Enqueue(ctx, twin); err != nil {
			return fmt.Errorf("remediate: enqueue approved plan %s: %w", twin.ID, err)
		}
		if err := a.decide(ctx, &plan, "planned", "approved", plan.Approval, nil, now); err != nil {
			return err
		}
		if err := appendAudit(ctx, a.Store, now, "remediation.approved", &plan, map[string]any{
			"approver": who, "reason": plan.Approval.Reason, "expiresAt": plan.Approval.ExpiresAt, "itemId": twin.ID}); err != nil {
			return err
		}
		if err := a.Store.Complete(ctx, p.Item.Partition, p.Item.ID); err != nil {
			return fmt.Errorf("remediate: complete waiting plan %s: %w", p.Item.ID, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &plan, nil
}

// Deny denies the plan that ref names on behalf of who, with a reason: the
// waiting item is kept as failed with the approver and the reason, and the
// finding's remediation status becomes none.
func (a *Approvals) Deny(ctx context.Context, ref string, who Approver, reason string) (*Plan, error) {
	if err := validDecision(who, reason); err != nil {
		return nil, err
	}
	p, err := a.find(ctx, ref)
	if err != nil {
		return nil, err
	}
	now := a.now()
	if err := a.check(ctx, p, now); err != nil && !errors.Is(err, ErrExpired) {
		return nil, err
	}
	plan := p.Plan
	d := &Approval{Approver: who, Reason: strings.TrimSpace(reason), At: now}
	err = a.Store.Batch(ctx, func(ctx context.Context) error {
		if err := appendAudit(ctx, a.Store, now, "remediation.denied", &plan, map[string]any{"approver": who, "reason": d.Reason}); err != nil {
			return err
		}
		if err := a.decide(ctx, &plan, "none", "denied", nil, d, now); err != nil {
			return err
		}
		if err := a.Store.Fail(ctx, p.Item.Partition, p.Item.ID, fmt.Sprintf("denied by %s: %s", who, d.Reason)); err != nil {
			return fmt.Errorf("remediate: fail denied plan %s: %w", p.Item.ID, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &plan, nil
}

// decide records a decision on the finding.
func (a *Approvals) decide(ctx context.Context, p *Plan, status, outcome string, approval, denied *Approval, now time.Time) error {
	_, err := a.Store.UpdateFinding(ctx, p.partition(), p.FindingID, func(cur *guard.Finding) (*guard.Finding, error) {
		if cur == nil || !sameTrigger(cur.Trigger, p.Trigger) {
			return nil, nil
		}
		n := *cur
		n.Remediation.Status = status
		reason := ""
		if approval != nil {
			reason = approval.Reason
		}
		if denied != nil {
			reason = denied.Reason
		}
		ev, err := withRecord(cur.Evidence, record{PlanID: p.ID, Action: p.Action.Type, Outcome: outcome, Reason: reason,
			Approval: approval, Denied: denied, At: now})
		if err != nil {
			return nil, err
		}
		n.Evidence = ev
		return &n, nil
	})
	if err != nil {
		return fmt.Errorf("remediate: record %s on %s: %w", outcome, p.FindingID, err)
	}
	return nil
}

// OnlyRemediation wraps an outbox so that a dispatcher sees only remediation
// plans: `exportguard remediate run` dispatches them and must leave
// notifications to their own senders.
func OnlyRemediation(o guard.Outbox) guard.Outbox { return kindOutbox{o} }

type kindOutbox struct{ guard.Outbox }

// onlyScan bounds how many due items are looked through for remediation plans.
const onlyScan = 10_000

func (o kindOutbox) DueItems(ctx context.Context, now time.Time, limit int) ([]guard.OutboxItem, error) {
	if limit <= 0 {
		return nil, nil
	}
	all, err := o.Outbox.DueItems(ctx, now, onlyScan)
	if err != nil {
		return nil, err
	}
	var out []guard.OutboxItem
	for _, it := range all {
		if it.Kind == Kind {
			out = append(out, it)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}
