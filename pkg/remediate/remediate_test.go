package remediate

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/replay"
	"github.com/exportguard/exportguard/pkg/session"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

const (
	subA      = "6b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	subB      = "0f9e8d7c-6b5a-4948-8372-615049382716"
	accountA  = "/subscriptions/" + subA + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/itara"
	accountB  = "/subscriptions/" + subB + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/itarb"
	grsBody   = `{"id":"%s","name":"x","type":"Microsoft.Storage/storageAccounts","location":"eastus","sku":{"name":"Standard_GRS"},"properties":{"secondaryLocation":"westus"}}`
	lrsBody   = `{"id":"%s","name":"x","type":"Microsoft.Storage/storageAccounts","location":"eastus","sku":{"name":"Standard_LRS"},"properties":{}}`
	ragzrBody = `{"id":"%s","name":"x","type":"Microsoft.Storage/storageAccounts","location":"eastus","sku":{"name":"Standard_RAGZRS"},"properties":{}}`
)

var t0 = time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)

func body(format, id string) string { return strings.Replace(format, "%s", id, 1) }

// countingARM is a session ARM whose writes can be made to fail.
type countingARM struct {
	*replay.ARM
	fail error
}

func (c *countingARM) Patch(ctx context.Context, id string, b []byte) (*guard.Resource, error) {
	if c.fail != nil {
		return nil, c.fail
	}
	return c.ARM.Patch(ctx, id, b)
}

type env struct {
	t     *testing.T
	st    guard.Store
	pol   *guard.Policy
	clock time.Time
	arm   *countingARM
	pl    *Planner
	ex    *Executor
	d     *guard.Dispatcher
}

func newEnv(t *testing.T, mode string, scope ...string) *env {
	t.Helper()
	st, err := sqlite.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pol := &guard.Policy{AllowedRegions: []string{"eastus"}, Scope: guard.Scope{Subscriptions: scope},
		Rules:       map[string]guard.RulePolicy{guard.RuleResidencyReplication: {Mode: guard.ModeRemediate}},
		Remediation: guard.RemediationPolicy{Mode: mode}}
	e := &env{t: t, st: st, pol: pol, clock: t0}
	e.arm = &countingARM{ARM: replay.NewARM(func() time.Time { return e.clock })}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e.pl = &Planner{Store: st, Policy: pol, Log: log}
	e.ex = &Executor{Store: st, Policy: pol, Reader: e.arm, Writer: e.arm, Log: log}
	e.d = &guard.Dispatcher{Outbox: st, Senders: map[string]guard.Sender{Kind: e.ex}, Log: log, Backoff: func(int) time.Duration { return time.Minute }}
	return e
}

func (e *env) observe(id, b string, at time.Time) {
	e.arm.Observe(session.Line{Source: session.SourceARM, At: at, ID: id, Body: json.RawMessage(b)})
}

// open stores a residency.replication finding on a GRS account and plans it, as the pipeline would.
func (e *env) open(id string) guard.Finding {
	e.t.Helper()
	ctx := context.Background()
	res, _ := guard.NewResource([]byte(body(grsBody, id)), e.clock)
	mode := guard.RemediationOff
	if e.pol.RuleMode(guard.RuleResidencyReplication) == guard.ModeRemediate {
		mode = e.pol.Remediation.Mode
	}
	status := remediationStart(mode)
	f := guard.Finding{ID: guard.FindingID(guard.RuleResidencyReplication, id, ""), Rule: guard.RuleResidencyReplication, Severity: "high",
		Status: guard.StatusOpen, SubscriptionID: guard.SubscriptionOf(id), ResourceID: id, Message: "replicates to westus",
		Evidence: map[string]any{"sku": "Standard_GRS", "secondaryLocation": "westus"}, FirstSeen: e.clock, LastSeen: e.clock,
		Trigger:     guard.Trigger{Source: guard.SourceEventGrid, EventID: "ev-" + e.clock.Format("150405")},
		Remediation: guard.Remediation{Action: "set sku.name to Standard_LRS", Mode: mode, Status: status}}
	if _, err := e.st.UpdateFinding(ctx, guard.PartitionOf(f.ResourceID), f.ID, func(*guard.Finding) (*guard.Finding, error) { return &f, nil }); err != nil {
		e.t.Fatal(err)
	}
	items, err := e.pl.Plan(ctx, guard.Transition{Finding: f, Verdict: guard.Verdict{Rule: f.Rule, ResourceID: id, Violation: true, Evidence: f.Evidence}, Resource: res})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, it := range items {
		if it.CreatedAt.IsZero() || it.NextAttempt.IsZero() {
			e.t.Fatalf("item %s without times", it.ID)
		}
		if err := e.st.Enqueue(ctx, it); err != nil {
			e.t.Fatal(err)
		}
	}
	got, _ := e.st.GetFinding(ctx, f.ID)
	return *got
}

func remediationStart(mode string) string {
	switch mode {
	case guard.RemediationDryRun, guard.RemediationAuto:
		return "planned"
	case guard.RemediationApprove:
		return "awaiting-approval"
	}
	return "none"
}

func (e *env) dispatch() guard.DispatchSummary {
	e.t.Helper()
	s, err := e.d.Run(context.Background(), e.clock)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) finding(id string) *guard.Finding {
	f, err := e.st.GetFinding(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

// allAudit returns the records of every partition's chain, partition by partition.
func (e *env) allAudit() ([]guard.AuditRecord, error) {
	heads, err := e.st.AuditHeads(context.Background(), time.Time{})
	if err != nil {
		return nil, err
	}
	var all []guard.AuditRecord
	for _, h := range heads {
		recs, err := e.st.ListAudit(context.Background(), h.Partition, 0, 1000)
		if err != nil {
			return nil, err
		}
		all = append(all, recs...)
	}
	return all, nil
}

func (e *env) auditKinds(subject string) map[string]int {
	recs, err := e.allAudit()
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range recs {
		if r.Subject == subject {
			out[r.Kind]++
		}
	}
	return out
}

func (e *env) outbox() []guard.OutboxItem {
	items, err := e.st.ListOutbox(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return items
}

var alice = Approver{ObjectID: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", Name: "alice@contoso.com", Via: "test"}

func TestAutoAppliesOnceAndRecords(t *testing.T) {
	e := newEnv(t, guard.RemediationAuto, subA)
	e.observe(accountA, body(grsBody, accountA), t0.Add(-time.Hour))
	f := e.open(accountA)
	if len(e.outbox()) != 1 || !strings.HasPrefix(e.outbox()[0].ID, "remediate:"+f.ID+":2026-11-02T09:30:00Z") {
		t.Fatalf("outbox %+v, want one plan with a deterministic ID", e.outbox())
	}
	// Planning the same transition again (a crash before the ledger mark) enqueues nothing new.
	e.open(accountA)
	if len(e.outbox()) != 1 {
		t.Fatalf("the same transition planned twice gave %d items", len(e.outbox()))
	}
	e.dispatch()
	e.dispatch()
	if w := e.arm.Writes(); len(w) != 1 || w[0].Method != "PATCH" || string(w[0].Body) != `{"sku":{"name":"Standard_LRS"}}` {
		t.Fatalf("writes %+v, want one PATCH to Standard_LRS", w)
	}
	got := e.finding(f.ID)
	if got.Remediation.Status != "applied" {
		t.Errorf("status %q", got.Remediation.Status)
	}
	rec, _ := recordOf(got)
	if rec.Outcome != "applied" || len(rec.Steps) != 1 {
		t.Errorf("evidence.remediation %+v", rec)
	}
	// Planned twice (the trail says so), enqueued and applied once.
	if k := e.auditKinds(f.ID); k["remediation.planned"] != 2 || k["remediation.applying"] != 1 || k["remediation.applied"] != 1 {
		t.Errorf("audit %v", k)
	}
	// The read after the write sees the fix (the replay ARM's write side).
	r, err := e.arm.ReadResource(context.Background(), accountA)
	if err != nil || !strings.Contains(string(r.Body), "Standard_LRS") {
		t.Errorf("read after write: %v %v", r, err)
	}
}

func TestDryRunRecordsAndWritesNothing(t *testing.T) {
	e := newEnv(t, guard.RemediationDryRun) // no scope: dry-run works all the same
	e.observe(accountA, body(grsBody, accountA), t0.Add(-time.Hour))
	f := e.open(accountA)
	e.dispatch()
	if len(e.outbox()) != 0 || len(e.arm.Writes()) != 0 {
		t.Fatalf("dry-run enqueued %d and wrote %d", len(e.outbox()), len(e.arm.Writes()))
	}
	if s := e.finding(f.ID).Remediation.Status; s != "planned" {
		t.Errorf("status %q, want planned", s)
	}
	recs, _ := e.allAudit()
	found := false
	for _, r := range recs {
		if r.Kind == "remediation.dry-run" {
			found = true
			var d struct {
				WouldWrite bool   `json:"wouldWrite"`
				Action     Action `json:"action"`
				Before     *guard.Resource
			}
			_ = json.Unmarshal(r.Data, &d)
			if d.WouldWrite || d.Action.Type != ActionStorageSKU || d.Action.ToSKU != "Standard_LRS" || d.Before == nil {
				t.Errorf("dry-run record %s", r.Data)
			}
		}
	}
	if !found {
		t.Error("no remediation.dry-run record")
	}
}

func TestOffPlansNothing(t *testing.T) {
	e := newEnv(t, guard.RemediationOff, subA)
	e.open(accountA)
	if len(e.outbox()) != 0 || len(e.auditKinds(guard.FindingID(guard.RuleResidencyReplication, accountA, ""))) != 0 {
		t.Error("remediation off planned something")
	}
}

// Nothing outside the scope allowlist is ever written: not when the list is
// empty, not in another subscription, and not when the policy in force when the
// plan runs has dropped the subscription it was planned in.
func TestScopeAllowlist(t *testing.T) {
	t.Run("empty list", func(t *testing.T) {
		e := newEnv(t, guard.RemediationAuto)
		e.observe(accountA, body(grsBody, accountA), t0.Add(-time.Hour))
		f := e.open(accountA)
		e.dispatch()
		if len(e.outbox()) != 0 || len(e.arm.Writes()) != 0 {
			t.Fatal("a plan with an empty scope list was enqueued or written")
		}
		got := e.finding(f.ID)
		rec, _ := recordOf(got)
		if got.Remediation.Status != "none" || rec.Outcome != "refused" || !strings.Contains(rec.Reason, "scope.subscriptions is empty") {
			t.Errorf("status %q, record %+v", got.Remediation.Status, rec)
		}
	})
	t.Run("other subscription", func(t *testing.T) {
		e := newEnv(t, guard.RemediationAuto, subA)
		e.observe(accountB, body(grsBody, accountB), t0.Add(-time.Hour))
		f := e.open(accountB)
		e.dispatch()
		if len(e.arm.Writes()) != 0 {
			t.Fatal("a resource in a subscription outside the allowlist was written")
		}
		if k := e.auditKinds(f.ID); k["remediation.refused"] != 1 {
			t.Errorf("audit %v", k)
		}
	})
	t.Run("dropped before the plan ran", func(t *testing.T) {
		e := newEnv(t, guard.RemediationAuto, subA, subB)
		e.observe(accountB, body(grsBody, accountB), t0.Add(-time.Hour))
		f := e.open(accountB)
		e.pol.Scope.Subscriptions = []string{subA} // the policy in force now
		if sum := e.dispatch(); sum.Failed != 1 {
			t.Fatalf("dispatch %+v, want the plan failed", sum)
		}
		if len(e.arm.Writes()) != 0 {
			t.Fatal("written after the subscription left the allowlist")
		}
		items := e.outbox()
		if len(items) != 1 || !items[0].Failed || !strings.Contains(items[0].LastError, "not in scope.subscriptions") {
			t.Errorf("outbox %+v", items)
		}
		if s := e.finding(f.ID).Remediation.Status; s != "none" {
			t.Errorf("status %q, want none", s)
		}
	})
}

func TestApproveThenApplied(t *testing.T) {
	e := newEnv(t, guard.RemediationApprove, subA)
	e.observe(accountA, body(grsBody, accountA), t0.Add(-time.Hour))
	f := e.open(accountA)
	e.dispatch()
	if len(e.arm.Writes()) != 0 || e.finding(f.ID).Remediation.Status != "awaiting-approval" {
		t.Fatal("an approve-mode plan ran before approval")
	}
	a := &Approvals{Store: e.st, Now: func() time.Time { return t0.Add(time.Hour) }}
	ps, _ := a.List(context.Background(), "")
	if len(ps) != 1 || ps[0].State != StateAwaiting || !ps[0].Plan.ApproveBy.Equal(t0.Add(DefaultApprovalWindow)) {
		t.Fatalf("pending %+v", ps)
	}
	if _, err := a.Approve(context.Background(), f.ID, alice, "  "); !errors.Is(err, ErrReasonRequired) {
		t.Errorf("approve without a reason: %v", err)
	}
	if _, err := a.Approve(context.Background(), f.ID, Approver{}, "ok"); !errors.Is(err, ErrNoApprover) {
		t.Errorf("approve without an approver: %v", err)
	}
	if _, err := a.Approve(context.Background(), "nope", alice, "ok"); !errors.Is(err, guard.ErrNotFound) {
		t.Errorf("approve of nothing: %v", err)
	}
	p, err := a.Approve(context.Background(), f.ID, alice, "CHG-1042 approved by the export officer")
	if err != nil {
		t.Fatal(err)
	}
	if p.Approval.ExpiresAt != t0.Add(time.Hour+DefaultApprovalTTL) {
		t.Errorf("approval expires %s", p.Approval.ExpiresAt)
	}
	if _, err := a.Approve(context.Background(), f.ID, alice, "again"); !errors.Is(err, ErrNotAwaiting) {
		t.Errorf("second approval: %v, want ErrNotAwaiting", err)
	}
	if got := e.finding(f.ID); got.Remediation.Status != "planned" {
		t.Errorf("status after approval %q", got.Remediation.Status)
	}
	e.dispatch()
	if w := e.arm.Writes(); len(w) != 1 {
		t.Fatalf("writes after approval %+v, want 1", w)
	}
	got := e.finding(f.ID)
	rec, _ := recordOf(got)
	if got.Remediation.Status != "applied" || rec.Approval == nil || rec.Approval.ObjectID != alice.ObjectID || rec.Approval.Reason != "CHG-1042 approved by the export officer" {
		t.Errorf("status %q, record %+v", got.Remediation.Status, rec)
	}
	recs, _ := e.allAudit()
	var approved, applied bool
	for _, r := range recs {
		switch r.Kind {
		case "remediation.approved":
			approved = strings.Contains(string(r.Data), alice.ObjectID) && strings.Contains(string(r.Data), "CHG-1042")
		case "remediation.applied":
			applied = strings.Contains(string(r.Data), `"approval"`) && strings.Contains(string(r.Data), alice.Name)
		}
	}
	if !approved || !applied {
		t.Errorf("audit: approved record with approver and reason %v; applied record with the approval %v", approved, applied)
	}
	if len(e.outbox()) != 0 {
		t.Errorf("outbox after applying %+v", e.outbox())
	}
}

func TestDeny(t *testing.T) {
	e := newEnv(t, guard.RemediationApprove, subA)
	e.observe(accountA, body(grsBody, accountA), t0.Add(-time.Hour))
	f := e.open(accountA)
	a := &Approvals{Store: e.st, Now: func() time.Time { return t0 }}
	if _, err := a.Deny(context.Background(), f.ID, alice, "licence D-1187 covers the secondary"); err != nil {
		t.Fatal(err)
	}
	e.clock = t0.Add(30 * 24 * time.Hour)
	e.dispatch()
	if len(e.arm.Writes()) != 0 {
		t.Fatal("a denied plan was written")
	}
	items := e.outbox()
	if len(items) != 1 || !items[0].Failed || !strings.Contains(items[0].LastError, "denied by alice@contoso.com") || !strings.Contains(items[0].LastError, "D-1187") {
		t.Errorf("outbox %+v", items)
	}
	if s := e.finding(f.ID).Remediation.Status; s != "none" {
		t.Errorf("status %q", s)
	}
	if _, err := a.Approve(context.Background(), f.ID, alice, "changed my mind"); !errors.Is(err, ErrNotAwaiting) {
		t.Errorf("approve after deny: %v", err)
	}
}

func TestApprovalsExpire(t *testing.T) {
	t.Run("nobody approves", func(t *testing.T) {
		e := newEnv(t, guard.RemediationApprove, subA)
		e.observe(accountA, body(grsBody, accountA), t0.Add(-time.Hour))
		f := e.open(accountA)
		late := &Approvals{Store: e.st, Now: func() time.Time { return t0.Add(DefaultApprovalWindow + time.Second) }}
		if _, err := late.Approve(context.Background(), f.ID, alice, "too late"); !errors.Is(err, ErrExpired) {
			t.Errorf("late approval: %v, want ErrExpired", err)
		}
		e.clock = t0.Add(DefaultApprovalWindow)
		if sum := e.dispatch(); sum.Failed != 1 {
			t.Fatalf("at the deadline: %+v", sum)
		}
		if got := e.finding(f.ID); got.Remediation.Status != "none" || e.auditKinds(f.ID)["remediation.expired"] != 1 {
			t.Errorf("status %q, audit %v", got.Remediation.Status, e.auditKinds(f.ID))
		}
		if len(e.arm.Writes()) != 0 {
			t.Error("written after expiry")
		}
	})
	t.Run("approval not used in time", func(t *testing.T) {
		e := newEnv(t, guard.RemediationApprove, subA)
		e.observe(accountA, body(grsBody, accountA), t0.Add(-time.Hour))
		f := e.open(accountA)
		a := &Approvals{Store: e.st, Now: func() time.Time { return t0 }}
		if _, err := a.Approve(context.Background(), f.ID, alice, "ok"); err != nil {
			t.Fatal(err)
		}
		e.arm.fail = errors.New("network down")
		e.dispatch() // retried
		e.clock = t0.Add(DefaultApprovalTTL + time.Minute)
		e.arm.fail = nil
		if sum := e.dispatch(); sum.Failed != 1 {
			t.Fatalf("after the approval expired: %+v", sum)
		}
		got := e.finding(f.ID)
		rec, _ := recordOf(got)
		if len(e.arm.Writes()) != 0 || got.Remediation.Status != "failed" || !strings.Contains(rec.Reason, "expired") {
			t.Errorf("writes %d, status %q, record %+v", len(e.arm.Writes()), got.Remediation.Status, rec)
		}
	})
}

func TestFindingMovedOn(t *testing.T) {
	e := newEnv(t, guard.RemediationApprove, subA)
	e.observe(accountA, body(grsBody, accountA), t0.Add(-time.Hour))
	f := e.open(accountA)
	// The finding resolves before anyone approves.
	_, _ = e.st.UpdateFinding(context.Background(), guard.PartitionOf(f.ResourceID), f.ID, func(cur *guard.Finding) (*guard.Finding, error) {
		n := *cur
		n.Status = guard.StatusResolved
		return &n, nil
	})
	a := &Approvals{Store: e.st, Now: func() time.Time { return t0 }}
	if _, err := a.Approve(context.Background(), f.ID, alice, "ok"); !errors.Is(err, ErrFindingMoved) {
		t.Errorf("approve a resolved finding's plan: %v", err)
	}
	e.clock = t0.Add(DefaultApprovalWindow)
	e.dispatch()
	if len(e.outbox()) != 0 || e.auditKinds(f.ID)["remediation.cancelled"] != 1 || len(e.arm.Writes()) != 0 {
		t.Errorf("outbox %+v, audit %v", e.outbox(), e.auditKinds(f.ID))
	}
}

func TestIdempotentAcrossCrashes(t *testing.T) {
	t.Run("written, then the process died before recording it", func(t *testing.T) {
		e := newEnv(t, guard.RemediationAuto, subA)
		e.observe(accountA, body(grsBody, accountA), t0.Add(-time.Hour))
		f := e.open(accountA)
		it := e.outbox()[0]
		// The intent is recorded and the write made, as in Send, then nothing more.
		p, _ := decodePlan(it.Payload)
		if err := e.ex.markApplying(context.Background(), t0, p, p.Action.Steps[0], p.Action.Steps[0].Body, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.arm.Patch(context.Background(), accountA, p.Action.Steps[0].Body); err != nil {
			t.Fatal(err)
		}
		e.dispatch() // after the restart
		if len(e.arm.Writes()) != 1 {
			t.Fatalf("%d writes, want the one before the crash only", len(e.arm.Writes()))
		}
		if got := e.finding(f.ID); got.Remediation.Status != "applied" {
			t.Errorf("status %q, want applied (the write before the crash)", got.Remediation.Status)
		}
	})
	t.Run("recorded applied, then died before completing the item", func(t *testing.T) {
		e := newEnv(t, guard.RemediationAuto, subA)
		e.observe(accountA, body(grsBody, accountA), t0.Add(-time.Hour))
		f := e.open(accountA)
		it := e.outbox()[0]
		if err := e.ex.Send(context.Background(), it, t0); err != nil {
			t.Fatal(err)
		}
		// The item was not completed: it runs again.
		if err := e.ex.Send(context.Background(), it, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if len(e.arm.Writes()) != 1 || e.finding(f.ID).Remediation.Status != "applied" {
			t.Errorf("writes %d, status %q", len(e.arm.Writes()), e.finding(f.ID).Remediation.Status)
		}
	})
	t.Run("someone fixed it first", func(t *testing.T) {
		e := newEnv(t, guard.RemediationAuto, subA)
		e.observe(accountA, body(grsBody, accountA), t0.Add(-time.Hour))
		f := e.open(accountA)
		e.observe(accountA, body(lrsBody, accountA), t0)
		e.dispatch()
		if len(e.arm.Writes()) != 0 || e.finding(f.ID).Remediation.Status != "none" || e.auditKinds(f.ID)["remediation.not-needed"] != 1 {
			t.Errorf("writes %d, status %q, audit %v", len(e.arm.Writes()), e.finding(f.ID).Remediation.Status, e.auditKinds(f.ID))
		}
	})
	t.Run("changed otherwise since the plan", func(t *testing.T) {
		e := newEnv(t, guard.RemediationAuto, subA)
		e.observe(accountA, body(grsBody, accountA), t0.Add(-time.Hour))
		f := e.open(accountA)
		e.observe(accountA, body(ragzrBody, accountA), t0)
		if sum := e.dispatch(); sum.Failed != 1 {
			t.Fatalf("dispatch %+v", sum)
		}
		if len(e.arm.Writes()) != 0 || e.finding(f.ID).Remediation.Status != "failed" {
			t.Errorf("writes %d, status %q", len(e.arm.Writes()), e.finding(f.ID).Remediation.Status)
		}
	})
}

func TestPolicyInForceIsChecked(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(p *guard.Policy)
		want   string
	}{
		{"remediation off", func(p *guard.Policy) { p.Remediation.Mode = guard.RemediationOff }, "remediation.mode is off"},
		{"dry-run now", func(p *guard.Policy) { p.Remediation.Mode = guard.RemediationDryRun }, "remediation.mode is dry-run"},
		{"rule back to alert", func(p *guard.Policy) {
			p.Rules[guard.RuleResidencyReplication] = guard.RulePolicy{Mode: guard.ModeAlert}
		}, "mode alert"},
		{"approve now", func(p *guard.Policy) { p.Remediation.Mode = guard.RemediationApprove }, "not approved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, guard.RemediationAuto, subA)
			e.observe(accountA, body(grsBody, accountA), t0.Add(-time.Hour))
			e.open(accountA)
			tc.change(e.pol)
			e.dispatch()
			items := e.outbox()
			if len(e.arm.Writes()) != 0 || len(items) != 1 || !strings.Contains(items[0].LastError, tc.want) {
				t.Errorf("writes %d, outbox %+v; want the plan refused with %q", len(e.arm.Writes()), items, tc.want)
			}
		})
	}
}

func TestNoActionCases(t *testing.T) {
	none := func(tr guard.Transition) Action { return BuildAction(tr) }
	cmk := guard.Finding{ID: "f", Rule: guard.RuleEncryptionCMK, ResourceID: accountA}
	if a := none(guard.Transition{Finding: cmk}); a.Type != ActionNone || !strings.Contains(a.Reason, "no earlier customer-managed key") {
		t.Errorf("CMK without a previous key: %+v", a)
	}
	cosmos := guard.Finding{ID: "f", Rule: guard.RuleResidencyReplication, ResourceID: "/subscriptions/" + subA + "/resourceGroups/rg/providers/Microsoft.DocumentDB/databaseAccounts/c"}
	if a := none(guard.Transition{Finding: cosmos, Verdict: guard.Verdict{Evidence: map[string]any{"outsideRegions": []string{"West Europe"}, "outsideWriteRegions": []string{"West Europe"}}}}); a.Type != ActionNone || !strings.Contains(a.Reason, "write region") {
		t.Errorf("Cosmos write region outside: %+v", a)
	}
	jit := guard.Finding{ID: "f", Rule: guard.RuleJITOverstay, ResourceID: "/subscriptions/" + subA + "/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm"}
	ev := map[string]any{"openRules": []any{map[string]any{"nsgId": "/subscriptions/" + subA + "/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n", "ruleName": "allow-ssh-from-office", "jitRule": false}}}
	if a := none(guard.Transition{Finding: jit, Verdict: guard.Verdict{Evidence: ev}}); a.Type != ActionNone || !strings.Contains(a.Reason, "not made by JIT") {
		t.Errorf("non-JIT rule: %+v", a)
	}
	for _, rule := range []string{guard.RuleJITWindow, guard.RuleUnscreenedPrincipal} {
		if a := none(guard.Transition{Finding: guard.Finding{ID: "f", Rule: rule, ResourceID: accountA}}); a.Type != ActionNone {
			t.Errorf("%s: %+v", rule, a)
		}
	}
	// With auto, an action of none is recorded and its finding says none.
	e := newEnv(t, guard.RemediationAuto, subA)
	e.pol.Rules[guard.RuleEncryptionCMK] = guard.RulePolicy{Mode: guard.ModeRemediate}
	f := guard.Finding{ID: guard.FindingID(guard.RuleEncryptionCMK, accountA, ""), Rule: guard.RuleEncryptionCMK, Status: guard.StatusOpen, ResourceID: accountA,
		SubscriptionID: subA, LastSeen: t0, Remediation: guard.Remediation{Mode: guard.RemediationAuto, Status: "planned"}}
	_, _ = e.st.UpdateFinding(context.Background(), guard.PartitionOf(f.ResourceID), f.ID, func(*guard.Finding) (*guard.Finding, error) { return &f, nil })
	items, err := e.pl.Plan(context.Background(), guard.Transition{Finding: f})
	if err != nil || len(items) != 0 {
		t.Fatalf("items %v, %v", items, err)
	}
	if got := e.finding(f.ID); got.Remediation.Status != "none" || e.auditKinds(f.ID)["remediation.none"] != 1 {
		t.Errorf("status %q, audit %v", got.Remediation.Status, e.auditKinds(f.ID))
	}
}

// A plan is built from states read from ARM only (DESIGN 3.6): neither a
// judged state nor a previous state an event carried is its ground.
func TestNoPlanFromAStateAnEventCarried(t *testing.T) {
	withKey := &guard.Resource{ID: accountA, Type: "Microsoft.Storage/storageAccounts", ObservedAt: t0,
		Body: []byte(`{"properties":{"encryption":{"keySource":"Microsoft.Keyvault","keyvaultproperties":{"keyname":"k","keyvaulturi":"https://kv-other.vault.azure.net"}}}}`)}
	carried := func(r *guard.Resource) *guard.Resource { c := *r; c.FromEvent = true; return &c }
	tls := &guard.Resource{ID: accountA, Type: "Microsoft.Storage/storageAccounts", ObservedAt: t0, Body: []byte(`{"properties":{"minimumTlsVersion":"TLS1_0"}}`)}
	tests := []struct {
		name string
		t    guard.Transition
		want string // action type
	}{
		{"CMK, previous state read from ARM", guard.Transition{Finding: guard.Finding{Rule: guard.RuleEncryptionCMK, ResourceID: accountA}, Previous: withKey}, ActionStorageCMK},
		{"CMK, previous state an event carried", guard.Transition{Finding: guard.Finding{Rule: guard.RuleEncryptionCMK, ResourceID: accountA}, Previous: carried(withKey)}, ActionNone},
		{"TLS, state read from ARM", guard.Transition{Finding: guard.Finding{Rule: guard.RuleTransitTLS, ResourceID: accountA}, Resource: tls}, ActionStorageTLS},
		{"TLS, state an event carried", guard.Transition{Finding: guard.Finding{Rule: guard.RuleTransitTLS, ResourceID: accountA}, Resource: carried(tls)}, ActionNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := BuildAction(tt.t)
			if a.Type != tt.want {
				t.Errorf("action = %+v, want %s", a, tt.want)
			}
			if tt.want == ActionNone && !strings.Contains(a.Reason, "event") {
				t.Errorf("reason %q does not say an event carried the state", a.Reason)
			}
		})
	}
}

func TestSQLDeletesNeedApprovalInAuto(t *testing.T) {
	fg := "/subscriptions/" + subA + "/resourceGroups/rg/providers/Microsoft.Sql/servers/s/failoverGroups/fg"
	e := newEnv(t, guard.RemediationAuto, subA)
	e.observe(fg, `{"id":"`+fg+`","name":"fg","type":"Microsoft.Sql/servers/failoverGroups"}`, t0.Add(-time.Hour))
	server := guard.ParentOf(fg)
	f := guard.Finding{ID: guard.FindingID(guard.RuleResidencyReplication, server, guard.ChildVerdictGrant(fg)), Rule: guard.RuleResidencyReplication,
		Status: guard.StatusOpen, ResourceID: server, SubscriptionID: subA, LastSeen: t0, Trigger: guard.Trigger{EventID: "e1"},
		Evidence:    map[string]any{"failoverGroup": fg},
		Remediation: guard.Remediation{Mode: guard.RemediationAuto, Status: "planned"}}
	_, _ = e.st.UpdateFinding(context.Background(), guard.PartitionOf(f.ResourceID), f.ID, func(*guard.Finding) (*guard.Finding, error) { return &f, nil })
	items, err := e.pl.Plan(context.Background(), guard.Transition{Finding: f, Verdict: guard.Verdict{Evidence: f.Evidence}})
	if err != nil || len(items) != 1 {
		t.Fatalf("items %v %v", items, err)
	}
	_ = e.st.Enqueue(context.Background(), items[0])
	e.dispatch()
	if len(e.arm.Writes()) != 0 || e.finding(f.ID).Remediation.Status != "awaiting-approval" {
		t.Fatalf("writes %d, status %q: deleting a failover group must wait for a person", len(e.arm.Writes()), e.finding(f.ID).Remediation.Status)
	}
	a := &Approvals{Store: e.st, Now: func() time.Time { return t0 }}
	if _, err := a.Approve(context.Background(), f.ID, alice, "DR moves to usgovtexas"); err != nil {
		t.Fatal(err)
	}
	e.dispatch()
	if w := e.arm.Writes(); len(w) != 1 || w[0].Method != "DELETE" || w[0].ID != fg {
		t.Errorf("writes %+v", w)
	}
	if _, err := e.arm.ReadResource(context.Background(), fg); !errors.Is(err, guard.ErrNotFound) {
		t.Errorf("failover group still readable: %v", err)
	}
}

func TestOnlyRemediation(t *testing.T) {
	e := newEnv(t, guard.RemediationAuto, subA)
	ctx := context.Background()
	for i, kind := range []string{"notify.teams", Kind, "notify.slack", Kind} {
		_ = e.st.Enqueue(ctx, guard.OutboxItem{ID: string(rune('a' + i)), Partition: guard.PartitionOf(accountA), Kind: kind, Payload: []byte(`{}`), CreatedAt: t0, NextAttempt: t0})
	}
	items, err := OnlyRemediation(e.st).DueItems(ctx, t0, 1)
	if err != nil || len(items) != 1 || items[0].Kind != Kind {
		t.Errorf("due %+v %v", items, err)
	}
	items, _ = OnlyRemediation(e.st).DueItems(ctx, t0, 10)
	if len(items) != 2 {
		t.Errorf("due %+v, want the two remediation items", items)
	}
}

func TestOnOutcomeHook(t *testing.T) {
	e := newEnv(t, guard.RemediationAuto, subA)
	e.observe(accountA, body(grsBody, accountA), t0.Add(-time.Hour))
	var told []string
	e.ex.OnOutcome = func(_ context.Context, f guard.Finding) error {
		told = append(told, f.Remediation.Status)
		return errors.New("the hook fails; the remediation does not")
	}
	e.open(accountA)
	if sum := e.dispatch(); sum.Delivered != 1 {
		t.Fatalf("dispatch %+v", sum)
	}
	if len(told) != 1 || told[0] != "applied" {
		t.Errorf("hook told %v", told)
	}
}
