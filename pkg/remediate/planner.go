package remediate

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// Planner turns a finding's transition to open into a remediation plan (see the
// package doc). It is a guard.Planner.
type Planner struct {
	Store  guard.Store
	Policy *guard.Policy
	Log    *slog.Logger
	// ApprovalWindow is how long a plan waits for a person;
	// DefaultApprovalWindow when 0.
	ApprovalWindow time.Duration
}

var _ guard.Planner = (*Planner)(nil)

func (pl *Planner) log() *slog.Logger {
	if pl.Log == nil {
		return slog.Default()
	}
	return pl.Log
}

// Plan implements guard.Planner. Only a transition to open of a finding whose
// remediation mode is dry-run, approve or auto is planned; every other
// transition gives nothing.
func (pl *Planner) Plan(ctx context.Context, t guard.Transition) ([]guard.OutboxItem, error) {
	f := t.Finding
	if f.Status != guard.StatusOpen || t.From == guard.StatusOpen {
		return nil, nil
	}
	mode := f.Remediation.Mode
	switch mode {
	case guard.RemediationDryRun, guard.RemediationApprove, guard.RemediationAuto:
	default:
		return nil, nil
	}
	at := f.LastSeen.UTC() // the transition's time: nextFinding sets lastSeen to it
	p := &Plan{ID: planID(f.ID, at), FindingID: f.ID, Rule: f.Rule, ResourceID: f.ResourceID,
		SubscriptionID: f.SubscriptionID, Trigger: f.Trigger, PlannedAt: at, Mode: mode, Action: BuildAction(t)}
	if t.Resource != nil && len(t.Resource.Body) <= maxBeforeBytes {
		r := *t.Resource
		p.Before = &r
	}
	p.InScope, p.ScopeReason = writeScope(pl.Policy, p.targets()...)
	if reason, ok := alwaysApprove[p.Action.Type]; ok {
		p.NeedsApproval, p.ApprovalReason = true, reason
	} else if mode == guard.RemediationApprove {
		p.NeedsApproval, p.ApprovalReason = true, "the policy's remediation mode is approve"
	}
	log := pl.log().With("findingId", f.ID, "rule", f.Rule, "resourceId", f.ResourceID, "action", p.Action.Type, "mode", mode)

	if p.Action.Type == ActionNone {
		log.Info("remediation: no automatic action", "reason", p.Action.Reason)
		if err := pl.audit(ctx, at, "remediation.none", p, map[string]any{"reason": p.Action.Reason}); err != nil {
			return nil, err
		}
		return nil, pl.setStatus(ctx, p, "none", "none", p.Action.Reason, at)
	}
	if mode == guard.RemediationDryRun {
		log.Info("remediation planned (dry-run: nothing is written)")
		return nil, pl.audit(ctx, at, "remediation.dry-run", p, map[string]any{"wouldWrite": p.InScope})
	}
	if !p.InScope {
		log.Warn("remediation refused: outside the scope allowlist", "reason", p.ScopeReason)
		if err := pl.audit(ctx, at, "remediation.refused", p, map[string]any{"reason": p.ScopeReason}); err != nil {
			return nil, err
		}
		return nil, pl.setStatus(ctx, p, "none", "refused", p.ScopeReason, at)
	}
	window := pl.ApprovalWindow
	if window <= 0 {
		window = DefaultApprovalWindow
	}
	next := at
	if p.NeedsApproval {
		p.ApproveBy = at.Add(window)
		next = p.ApproveBy // due only to expire, unless approved first
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("remediate: encode plan for %s: %w", f.ID, err)
	}
	if err := pl.audit(ctx, at, "remediation.planned", p, nil); err != nil {
		return nil, err
	}
	if p.NeedsApproval {
		log.Info("remediation planned; awaiting approval", "why", p.ApprovalReason, "approveBy", p.ApproveBy)
		if err := pl.setStatus(ctx, p, "awaiting-approval", "awaiting-approval", p.ApprovalReason, at); err != nil {
			return nil, err
		}
	} else {
		log.Info("remediation planned")
	}
	return []guard.OutboxItem{{ID: p.ID, Partition: p.partition(), Kind: Kind, Payload: raw, CreatedAt: at, NextAttempt: next}}, nil
}

// setStatus moves the finding's remediation status when the planner decides
// otherwise than the centre's default (planned or awaiting-approval from the
// mode): no action, out of scope, or approval required in auto mode.
func (pl *Planner) setStatus(ctx context.Context, p *Plan, status, outcome, reason string, at time.Time) error {
	_, err := pl.Store.UpdateFinding(ctx, p.partition(), p.FindingID, func(cur *guard.Finding) (*guard.Finding, error) {
		if cur == nil || cur.Status != guard.StatusOpen || !sameTrigger(cur.Trigger, p.Trigger) {
			return nil, nil
		}
		n := *cur
		n.Remediation.Status = status
		ev, err := withRecord(cur.Evidence, record{PlanID: p.ID, Action: p.Action.Type, Outcome: outcome, Reason: reason, At: at})
		if err != nil {
			return nil, err
		}
		n.Evidence = ev
		return &n, nil
	})
	if err != nil {
		return fmt.Errorf("remediate: set remediation status of %s: %w", p.FindingID, err)
	}
	return nil
}

func (pl *Planner) audit(ctx context.Context, at time.Time, kind string, p *Plan, extra map[string]any) error {
	return appendAudit(ctx, pl.Store, at, kind, p, extra)
}

// record is what a finding's evidence.remediation holds: the latest outcome.
type record struct {
	PlanID   string    `json:"planId"`
	Action   string    `json:"action"`
	Outcome  string    `json:"outcome"`
	Reason   string    `json:"reason,omitempty"`
	Approval *Approval `json:"approval,omitempty"`
	Denied   *Approval `json:"deniedBy,omitempty"`
	Steps    []string  `json:"steps,omitempty"` // METHOD target of each write made
	At       time.Time `json:"at"`
}

// withRecord returns ev with evidence.remediation set to r (as the JSON
// values a store gives back).
func withRecord(ev map[string]any, r record) (map[string]any, error) {
	out, err := guard.WithEvidence(ev, guard.EvidenceRemediation, r)
	if err != nil {
		return nil, fmt.Errorf("remediate: %w", err)
	}
	return out, nil
}

// recordOf reads a finding's evidence.remediation.
func recordOf(f *guard.Finding) (record, bool) {
	var r record
	if f == nil || !guard.DecodeEvidence(f.Evidence, guard.EvidenceRemediation, &r) {
		return record{}, false
	}
	return r, true
}

// appendAudit writes one remediation record to the trail, subject the finding.
func appendAudit(ctx context.Context, st guard.Audit, at time.Time, kind string, p *Plan, extra map[string]any) error {
	data := map[string]any{"planId": p.ID, "findingId": p.FindingID, "rule": p.Rule, "resourceId": p.ResourceID,
		"mode": p.Mode, "action": p.Action, "inScope": p.InScope, "needsApproval": p.NeedsApproval}
	if p.ScopeReason != "" {
		data["scopeReason"] = p.ScopeReason
	}
	if p.ApprovalReason != "" {
		data["approvalReason"] = p.ApprovalReason
	}
	if !p.ApproveBy.IsZero() {
		data["approveBy"] = p.ApproveBy
	}
	if p.Approval != nil {
		data["approval"] = p.Approval
	}
	if kind == "remediation.planned" || kind == "remediation.dry-run" {
		data["before"] = p.Before
	}
	for k, v := range extra {
		data[k] = v
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("remediate: audit %s: %w", kind, err)
	}
	if _, err := st.AppendAudit(ctx, guard.AuditRecord{Partition: p.partition(), At: at.UTC(), Kind: kind, Subject: p.FindingID, Data: raw}); err != nil {
		return fmt.Errorf("remediate: audit %s of %s: %w", kind, p.FindingID, err)
	}
	return nil
}
