package guard_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// ignoreText leaves the message and evidence of a finding to separate checks.
var ignoreText = cmpopts.IgnoreFields(guard.Finding{}, "Message", "Evidence")

func TestViolationOpensFinding(t *testing.T) {
	tests := []struct {
		name         string
		rule         guard.RulePolicy
		remediation  string
		wantSeverity string
		wantMode     string
		wantStatus   string
	}{
		{"alert rule: no remediation", guard.RulePolicy{Mode: guard.ModeAlert, Severity: "medium"}, guard.RemediationAuto, "medium", guard.RemediationOff, "none"},
		{"remediate rule, dry-run, default severity", guard.RulePolicy{Mode: guard.ModeRemediate}, guard.RemediationDryRun, "high", guard.RemediationDryRun, "planned"},
		{"remediate rule, approve", guard.RulePolicy{Mode: guard.ModeRemediate, Severity: "critical"}, guard.RemediationApprove, "critical", guard.RemediationApprove, "awaiting-approval"},
		{"remediate rule, auto", guard.RulePolicy{Mode: guard.ModeRemediate, Severity: "low"}, guard.RemediationAuto, "low", guard.RemediationAuto, "planned"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := usPolicy(guard.ModeAlert)
			pol.Rules[guard.RuleResidencyReplication] = tt.rule
			pol.Remediation.Mode = tt.remediation
			h := newHarness(t, pol)
			h.observe(at(-5), outside(t, acctID))
			c := change(acctID, "6f0e2a1c-3b4d-4e5f-8a9b-0c1d2e3f4a5b", "al-1", alice)

			sum := h.handle(c, t0)

			if want := (guard.Summary{Changes: 1, Verdicts: 1, Transitions: 1}); sum != want {
				t.Errorf("summary = %+v, want %+v", sum, want)
			}
			want := &guard.Finding{
				ID:             guard.FindingID(guard.RuleResidencyReplication, acctID, ""),
				Rule:           guard.RuleResidencyReplication,
				Severity:       tt.wantSeverity,
				Status:         guard.StatusOpen,
				SubscriptionID: subA,
				ResourceID:     acctID,
				FirstSeen:      t0,
				LastSeen:       t0,
				Trigger:        guard.Trigger{Source: guard.SourceEventHub, EventID: "al-1", CorrelationID: "6f0e2a1c-3b4d-4e5f-8a9b-0c1d2e3f4a5b", Caller: alice},
				Remediation:    guard.Remediation{Action: "set sku.name to Standard_LRS", Mode: tt.wantMode, Status: tt.wantStatus},
			}
			got := h.finding(acctID)
			if diff := cmp.Diff(want, got, ignoreText); diff != "" {
				t.Fatalf("finding (-want +got):\n%s", diff)
			}
			if !strings.Contains(got.Message, "westeurope") || !strings.Contains(got.Message, "stexportdata") {
				t.Errorf("message = %q, want it to name the account and westeurope", got.Message)
			}
			for k, v := range map[string]any{"sku": "Standard_RAGRS", "primaryLocation": "eastus", "secondaryLocation": "westeurope", "secondaryGeography": "Europe"} {
				if got.Evidence[k] != v {
					t.Errorf("evidence[%q] = %v, want %v", k, got.Evidence[k], v)
				}
			}
			if diff := cmp.Diff([]string{"finding.open", "change"}, h.auditKinds(0)); diff != "" {
				t.Errorf("audit kinds (-want +got):\n%s", diff)
			}
			if opens := h.auditOf("finding.open"); len(opens) == 1 {
				if opens[0].Subject != want.ID || !opens[0].At.Equal(t0) {
					t.Errorf("finding.open subject %q at %s, want the finding ID %q at %s", opens[0].Subject, opens[0].At, want.ID, t0)
				}
				var data struct {
					Rule, ResourceID, From, To string
					Trigger                    guard.Trigger
				}
				if err := json.Unmarshal(opens[0].Data, &data); err != nil {
					t.Fatalf("finding.open data %s: %v", opens[0].Data, err)
				}
				wantData := data
				wantData.Rule, wantData.ResourceID, wantData.From, wantData.To, wantData.Trigger =
					guard.RuleResidencyReplication, acctID, "", "open", want.Trigger
				if diff := cmp.Diff(wantData, data); diff != "" {
					t.Errorf("finding.open data (-want +got):\n%s", diff)
				}
			}
			if !h.processed(c) {
				t.Errorf("ledger: operation %s not marked processed", c.OperationKey())
			}
			res, err := h.store.GetResource(h.ctx, strings.ToUpper(acctID))
			if err != nil {
				t.Fatalf("last known state: %v", err)
			}
			if res.Deleted || !res.ObservedAt.Equal(at(-5)) || !strings.Contains(string(res.Body), "Standard_RAGRS") {
				t.Errorf("last known state = deleted %v, observed %s, body %.60s…; want the ARM body observed at %s",
					res.Deleted, res.ObservedAt, res.Body, at(-5))
			}
		})
	}
}

// TestFindingLifecycle walks one finding through open, repeated, resolved,
// resolved again and reopened; each step reads the outcome back from the store.
func TestFindingLifecycle(t *testing.T) {
	h := newHarness(t, usPolicy(guard.ModeAlert))
	c1 := change(acctID, "corr-1", "al-1", alice)
	c2 := change(acctID, "corr-2", "al-2", bob)
	c3 := change(acctID, "corr-3", "al-3", bob)
	c4 := change(acctID, "corr-4", "al-4", alice)
	c5 := change(acctID, "corr-5", "al-5", alice)
	steps := []struct {
		name           string
		now            time.Time
		arm            []byte // what ARM returns from now on; nil leaves it
		c              guard.Change
		wantStatus     guard.Status
		wantFirstSeen  time.Time
		wantLastSeen   time.Time
		wantResolvedAt *time.Time
		wantTrigger    guard.Trigger
		wantAudit      []string // appended by this step
		wantTransition int
		check          func(t *testing.T, f *guard.Finding)
	}{
		{
			name: "violation opens", now: at(0), arm: outside(t, acctID), c: c1,
			wantStatus: guard.StatusOpen, wantFirstSeen: at(0), wantLastSeen: at(0), wantTrigger: triggerOf(c1),
			wantAudit: []string{"finding.open", "change"}, wantTransition: 1,
		},
		{
			name: "same verdict only moves lastSeen", now: at(10), c: c2,
			wantStatus: guard.StatusOpen, wantFirstSeen: at(0), wantLastSeen: at(10), wantTrigger: triggerOf(c1),
			wantAudit: []string{"change"},
		},
		{
			name: "compliant state resolves", now: at(20), arm: inside(t, acctID), c: c3,
			wantStatus: guard.StatusResolved, wantFirstSeen: at(0), wantLastSeen: at(20), wantResolvedAt: ptr(at(20)),
			wantTrigger: triggerOf(c3), wantAudit: []string{"finding.resolved", "change"}, wantTransition: 1,
			check: func(t *testing.T, f *guard.Finding) {
				for k, v := range map[string]any{"sku": "Standard_RAGRS", "secondaryLocation": "westeurope"} {
					if f.Evidence[k] != v {
						t.Errorf("resolved evidence[%q] = %v, want the violation's %v", k, f.Evidence[k], v)
					}
				}
				res, ok := f.Evidence["resolution"].(map[string]any)
				if !ok {
					t.Fatalf("resolved evidence has no resolution entry: %v", f.Evidence)
				}
				facts, _ := res["facts"].(map[string]any)
				if facts["sku"] != "Standard_GRS" || facts["secondaryLocation"] != "westus" {
					t.Errorf("resolution facts = %v, want sku Standard_GRS to westus", facts)
				}
				if msg, _ := res["message"].(string); !strings.Contains(msg, "inside the allowed set") {
					t.Errorf("resolution message = %q, want the compliant verdict's", msg)
				}
			},
		},
		{
			name: "compliant again changes nothing", now: at(30), c: c4,
			wantStatus: guard.StatusResolved, wantFirstSeen: at(0), wantLastSeen: at(20), wantResolvedAt: ptr(at(20)),
			wantTrigger: triggerOf(c3), wantAudit: []string{"change"},
		},
		{
			name: "later violation reopens", now: at(40), arm: outside(t, acctID), c: c5,
			wantStatus: guard.StatusOpen, wantFirstSeen: at(0), wantLastSeen: at(40), wantTrigger: triggerOf(c5),
			wantAudit: []string{"finding.open", "change"}, wantTransition: 1,
			check: func(t *testing.T, f *guard.Finding) {
				if _, ok := f.Evidence["resolution"]; ok {
					t.Errorf("reopened evidence still has a resolution entry: %v", f.Evidence)
				}
				if f.Remediation.Status != "none" {
					t.Errorf("remediation status = %q, want none", f.Remediation.Status)
				}
			},
		},
	}
	for _, st := range steps {
		ok := t.Run(st.name, func(t *testing.T) {
			if st.arm != nil {
				h.observe(st.now, st.arm)
			}
			before := len(h.audit())
			sum := h.handle(st.c, st.now)
			if sum.Transitions != st.wantTransition || sum.Verdicts != 1 {
				t.Errorf("summary = %+v, want 1 verdict and %d transitions", sum, st.wantTransition)
			}
			f := h.finding(acctID)
			if f == nil {
				t.Fatal("no finding stored")
			}
			got := struct {
				Status              guard.Status
				FirstSeen, LastSeen time.Time
				ResolvedAt          *time.Time
				Trigger             guard.Trigger
			}{f.Status, f.FirstSeen, f.LastSeen, f.ResolvedAt, f.Trigger}
			want := got
			want.Status, want.FirstSeen, want.LastSeen, want.ResolvedAt, want.Trigger =
				st.wantStatus, st.wantFirstSeen, st.wantLastSeen, st.wantResolvedAt, st.wantTrigger
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("finding (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(st.wantAudit, h.auditKinds(before)); diff != "" {
				t.Errorf("audit kinds appended (-want +got):\n%s", diff)
			}
			if st.check != nil {
				st.check(t, f)
			}
		})
		if !ok {
			break // later steps build on this one
		}
	}
	if n := len(h.findings()); n != 1 {
		t.Errorf("got %d findings, want the one finding throughout", n)
	}
}

// The remediation engine's record of a finding's plan (evidence.remediation)
// and the remediation status it set stay with the finding while the same
// violation is judged again, as its trigger does: they are about the
// transition that opened it. A resolution keeps them with the rest of the
// evidence; a reopening starts afresh.
func TestRepeatedViolationKeepsRemediationRecord(t *testing.T) {
	h := newHarness(t, usPolicy(guard.ModeAlert))
	h.observe(at(0), outside(t, acctID))
	h.handle(change(acctID, "corr-1", "al-1", alice), at(0))
	f := h.finding(acctID)
	if f == nil {
		t.Fatal("no finding stored")
	}
	record := map[string]any{"planId": "plan-1", "action": "storage.disableGeoReplication", "outcome": "awaiting-approval", "at": at(1).Format(time.RFC3339)}
	// As remediate.Planner records a plan awaiting approval.
	if _, err := h.store.UpdateFinding(h.ctx, guard.PartitionOf(f.ResourceID), f.ID, func(cur *guard.Finding) (*guard.Finding, error) {
		n := *cur
		n.Remediation.Status = "awaiting-approval"
		n.Evidence = map[string]any{"remediation": record}
		for k, v := range cur.Evidence {
			n.Evidence[k] = v
		}
		return &n, nil
	}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name       string
		now        time.Time
		arm        []byte
		wantStatus guard.Status
		wantRecord bool
		wantRemSt  string
	}{
		{"same violation again", at(10), nil, guard.StatusOpen, true, "awaiting-approval"},
		{"resolved", at(20), inside(t, acctID), guard.StatusResolved, true, "awaiting-approval"},
		{"reopened", at(30), outside(t, acctID), guard.StatusOpen, false, "none"},
	}
	for i, st := range steps {
		if st.arm != nil {
			h.observe(st.now, st.arm)
		}
		h.handle(change(acctID, fmt.Sprintf("corr-%d", i+2), fmt.Sprintf("al-%d", i+2), bob), st.now)
		f := h.finding(acctID)
		if f.Status != st.wantStatus || f.LastSeen != st.now {
			t.Fatalf("%s: finding %s, last seen %v; want %s at %v", st.name, f.Status, f.LastSeen, st.wantStatus, st.now)
		}
		got, ok := f.Evidence["remediation"]
		if ok != st.wantRecord || (ok && !cmp.Equal(got, any(record))) {
			t.Errorf("%s: evidence.remediation = %v (present %v), want the plan's record: %v", st.name, got, ok, st.wantRecord)
		}
		if f.Remediation.Status != st.wantRemSt {
			t.Errorf("%s: remediation status = %q, want %q", st.name, f.Remediation.Status, st.wantRemSt)
		}
		if f.Evidence["sku"] == nil {
			t.Errorf("%s: evidence lost the verdict's facts: %v", st.name, f.Evidence)
		}
	}
}

func TestExemption(t *testing.T) {
	expires := at(60)
	tests := []struct {
		name       string
		ex         guard.Exemption
		wantStatus guard.Status
	}{
		{"the account itself", guard.Exemption{Resource: acctID}, guard.StatusExempt},
		{"its resource group", guard.Exemption{Resource: rgA}, guard.StatusExempt},
		{"its subscription", guard.Exemption{Resource: "/subscriptions/" + subA}, guard.StatusExempt},
		{"scope in other casing", guard.Exemption{Resource: strings.ToUpper(rgA)}, guard.StatusExempt},
		{"scope with a trailing slash", guard.Exemption{Resource: rgA + "/"}, guard.StatusExempt},
		{"the rule named", guard.Exemption{Resource: rgA, Rules: []string{guard.RuleResidencyLocation, guard.RuleResidencyReplication}}, guard.StatusExempt},
		{"no expiry", guard.Exemption{Resource: rgA, ExpiresOn: time.Time{}}, guard.StatusExempt},
		{"another rule only", guard.Exemption{Resource: rgA, Rules: []string{guard.RuleResidencyLocation}}, guard.StatusOpen},
		{"prefix not on a whole segment", guard.Exemption{Resource: "/subscriptions/" + subA + "/resourceGroups/rg-exp"}, guard.StatusOpen},
		{"a sibling resource", guard.Exemption{Resource: acctID + "2"}, guard.StatusOpen},
		{"another subscription", guard.Exemption{Resource: "/subscriptions/" + subB}, guard.StatusOpen},
		{"expires exactly now", guard.Exemption{Resource: rgA, ExpiresOn: t0}, guard.StatusOpen},
		{"expired before", guard.Exemption{Resource: rgA, ExpiresOn: at(-1)}, guard.StatusOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := tt.ex
			ex.Reason, ex.ApprovedBy = "licence D-1187", "export.officer@contoso.com"
			if ex.ExpiresOn.IsZero() && tt.name != "no expiry" {
				ex.ExpiresOn = expires
			}
			pol := usPolicy(guard.ModeAlert)
			pol.Exemptions = []guard.Exemption{ex}
			h := newHarness(t, pol)
			h.observe(at(-5), outside(t, acctID))
			h.handle(change(acctID, "corr-1", "al-1", alice), t0)

			f := h.finding(acctID)
			if f == nil {
				t.Fatal("no finding stored")
			}
			if f.Status != tt.wantStatus {
				t.Errorf("status = %s, want %s", f.Status, tt.wantStatus)
			}
			got, hasEx := f.Evidence["exemption"].(map[string]any)
			if hasEx != (tt.wantStatus == guard.StatusExempt) {
				t.Errorf("evidence exemption entry present = %v, want %v (%v)", hasEx, !hasEx, f.Evidence)
			}
			if hasEx && (got["reason"] != "licence D-1187" || got["approvedBy"] != "export.officer@contoso.com" || got["resource"] != ex.Resource) {
				t.Errorf("evidence exemption = %v, want the policy's exemption %+v", got, ex)
			}
			if diff := cmp.Diff([]string{"finding." + string(tt.wantStatus), "change"}, h.auditKinds(0)); diff != "" {
				t.Errorf("audit kinds (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeletion(t *testing.T) {
	otherID := accountID("stother")
	tests := []struct {
		name      string
		exempt    bool
		del       func(t *testing.T, h *harness) guard.Summary // the deletion, at at(10)
		wantReads int                                          // of acctID, including the read that opened the finding
		wantTrig  guard.Trigger
	}{
		{
			name: "delete change, ARM answers 404: open findings resolve",
			del: func(t *testing.T, h *harness) guard.Summary {
				h.gone(at(9), acctID)
				return h.handle(deletion(acctID, "corr-del", "eg-del", bob), at(10))
			},
			wantReads: 2,
			wantTrig:  guard.Trigger{Source: guard.SourceEventGrid, EventID: "eg-del", CorrelationID: "corr-del", Caller: bob},
		},
		{
			name:   "delete change, ARM answers 404: exempt findings resolve",
			exempt: true,
			del: func(t *testing.T, h *harness) guard.Summary {
				h.gone(at(9), acctID)
				return h.handle(deletion(acctID, "corr-del", "eg-del", bob), at(10))
			},
			wantReads: 2,
			wantTrig:  guard.Trigger{Source: guard.SourceEventGrid, EventID: "eg-del", CorrelationID: "corr-del", Caller: bob},
		},
		{
			name: "Event Grid ResourceDeleteSuccess through Ingest, ARM answers 404",
			del: func(t *testing.T, h *harness) guard.Summary {
				h.gone(at(9), acctID)
				ev := egEvent(acctID, "Microsoft.Resources.ResourceDeleteSuccess", deleteOp, "corr-del", "eg-del", at(9), bob)
				return h.ingest(guard.SourceEventGrid, egDelivery(t, ev), at(10))
			},
			wantReads: 2,
			wantTrig:  guard.Trigger{Source: guard.SourceEventGrid, EventID: "eg-del", CorrelationID: "corr-del", Caller: bob},
		},
		{
			name: "404 for a resource known before is a deletion",
			del: func(t *testing.T, h *harness) guard.Summary {
				h.gone(at(8), acctID)
				return h.handle(change(acctID, "corr-w", "al-w", bob), at(10))
			},
			wantReads: 2,
			wantTrig:  guard.Trigger{Source: guard.SourceEventHub, EventID: "al-w", CorrelationID: "corr-w", Caller: bob},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := usPolicy(guard.ModeAlert)
			if tt.exempt {
				pol.Exemptions = []guard.Exemption{{Resource: acctID, ExpiresOn: at(120), Reason: "r", ApprovedBy: "a"}}
			}
			h := newHarness(t, pol)
			h.observe(at(-5), outside(t, acctID))
			h.observe(at(-5), outside(t, otherID))
			h.handle(change(acctID, "corr-1", "al-1", alice), t0)
			h.handle(change(otherID, "corr-2", "al-2", alice), t0)
			// Findings of other rules about the same account, as other rules leave them:
			// one open, one already resolved.
			seed(t, h, guard.Finding{Rule: guard.RuleEncryptionCMK, Status: guard.StatusOpen, ResourceID: acctID,
				SubscriptionID: subA, FirstSeen: at(-30), LastSeen: at(-30)})
			seed(t, h, guard.Finding{Rule: guard.RuleTransitTLS, Status: guard.StatusResolved, ResourceID: acctID,
				SubscriptionID: subA, FirstSeen: at(-30), LastSeen: at(-20), ResolvedAt: ptr(at(-20))})
			wantFirst := guard.StatusOpen
			if tt.exempt {
				wantFirst = guard.StatusExempt
			}
			if f := h.finding(acctID); f == nil || f.Status != wantFirst {
				t.Fatalf("before the deletion: finding %+v, want %s", f, wantFirst)
			}
			before := len(h.audit())

			sum := tt.del(t, h)

			if sum.Transitions != 2 {
				t.Errorf("summary = %+v, want 2 transitions (replication and cmk)", sum)
			}
			for _, rule := range []string{guard.RuleResidencyReplication, guard.RuleEncryptionCMK} {
				f := h.findingOf(rule, acctID)
				if f.Status != guard.StatusResolved || f.ResolvedAt == nil || !f.ResolvedAt.Equal(at(10)) || !f.LastSeen.Equal(at(10)) {
					t.Errorf("%s: status %s, resolvedAt %v, lastSeen %s; want resolved at %s", rule, f.Status, f.ResolvedAt, f.LastSeen, at(10))
				}
				if diff := cmp.Diff(tt.wantTrig, f.Trigger); diff != "" {
					t.Errorf("%s trigger (-want +got):\n%s", rule, diff)
				}
				res, _ := f.Evidence["resolution"].(map[string]any)
				if facts, _ := res["facts"].(map[string]any); facts["deleted"] != true {
					t.Errorf("%s resolution = %v, want facts {deleted: true}", rule, res)
				}
			}
			if f := h.findingOf(guard.RuleTransitTLS, acctID); !f.ResolvedAt.Equal(at(-20)) || !f.LastSeen.Equal(at(-20)) {
				t.Errorf("already resolved finding moved: resolvedAt %v, lastSeen %s; want both %s", f.ResolvedAt, f.LastSeen, at(-20))
			}
			if f := h.finding(otherID); f.Status != guard.StatusOpen {
				t.Errorf("other account's finding = %s, want it left open", f.Status)
			}
			if diff := cmp.Diff([]string{"finding.resolved", "finding.resolved", "change"}, h.auditKinds(before)); diff != "" {
				t.Errorf("audit kinds appended (-want +got):\n%s", diff)
			}
			if got := h.reader.count(acctID); got != tt.wantReads {
				t.Errorf("ARM reads of the account = %d, want %d", got, tt.wantReads)
			}
			res, err := h.store.GetResource(h.ctx, acctID)
			if err != nil || !res.Deleted {
				t.Errorf("last known state = %+v, %v; want deleted", res, err)
			}
		})
	}
}

// A delete, whoever reports it, is a reason to read ARM: while ARM still
// answers with the resource (a forged delete, or a genuine one delivered after
// the resource was created again), its state is judged like any other and
// nothing resolves on the event's word (DESIGN 3.6).
func TestDeleteEventIsConfirmedByARM(t *testing.T) {
	rnDeleted := func(t *testing.T, id string, when time.Time) []byte {
		t.Helper()
		b, err := json.Marshal([]map[string]any{{"id": "rn-del", "eventType": "Microsoft.ResourceNotifications.Resources.Deleted",
			"subject": id, "eventTime": when.Format(time.RFC3339Nano), "dataVersion": "1", "metadataVersion": "1",
			"topic": "/subscriptions/" + subA, "data": map[string]any{"resourceInfo": map[string]any{"id": id, "type": "Microsoft.Storage/storageAccounts"}}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name  string
		state func(t *testing.T) []byte // what ARM answers after the delete event
		del   func(t *testing.T, h *harness) guard.Summary
		want  guard.Status
	}{
		{"Event Grid ResourceDeleteSuccess, resource still there", func(t *testing.T) []byte { return outside(t, acctID) },
			func(t *testing.T, h *harness) guard.Summary {
				ev := egEvent(acctID, "Microsoft.Resources.ResourceDeleteSuccess", deleteOp, "corr-del", "eg-del", at(9), bob)
				return h.ingest(guard.SourceEventGrid, egDelivery(t, ev), at(10))
			}, guard.StatusOpen},
		{"Activity Log delete record, resource still there", func(t *testing.T) []byte { return outside(t, acctID) },
			func(t *testing.T, h *harness) guard.Summary {
				return h.ingest(guard.SourceEventHub, alMessage(t, alRecord(acctID, deleteOp, "Success", "corr-del", at(9), bob)), at(10))
			}, guard.StatusOpen},
		{"Resource Notifications Deleted, resource still there", func(t *testing.T) []byte { return outside(t, acctID) },
			func(t *testing.T, h *harness) guard.Summary {
				return h.ingest(guard.SourceEventGrid, rnDeleted(t, acctID, at(9)), at(10))
			}, guard.StatusOpen},
		{"late delete of a resource created again, now compliant", func(t *testing.T) []byte { return inside(t, acctID) },
			func(t *testing.T, h *harness) guard.Summary {
				ev := egEvent(acctID, "Microsoft.Resources.ResourceDeleteSuccess", deleteOp, "corr-del", "eg-del", at(1), bob)
				return h.ingest(guard.SourceEventGrid, egDelivery(t, ev), at(10))
			}, guard.StatusResolved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, usPolicy(guard.ModeAlert))
			h.observe(at(-5), outside(t, acctID))
			h.handle(change(acctID, "corr-1", "al-1", alice), t0)
			h.observe(at(5), tt.state(t))

			tt.del(t, h)

			f := h.finding(acctID)
			if f.Status != tt.want {
				t.Fatalf("finding after the delete event = %s, want %s", f.Status, tt.want)
			}
			if res, _ := f.Evidence["resolution"].(map[string]any); res != nil {
				if facts, _ := res["facts"].(map[string]any); facts["deleted"] == true {
					t.Errorf("resolved as deleted while ARM has the resource: %v", res)
				}
			}
			if got := h.reader.count(acctID); got != 2 {
				t.Errorf("ARM reads of the account = %d, want 2 (the delete is read, not believed)", got)
			}
			if res, err := h.store.GetResource(h.ctx, acctID); err != nil || res.Deleted {
				t.Errorf("last known state = %+v, %v; want the state ARM answered", res, err)
			}
		})
	}
}

// seed stores a finding of another rule directly in the store.
func seed(t *testing.T, h *harness, f guard.Finding) {
	t.Helper()
	f.ID = guard.FindingID(f.Rule, f.ResourceID, "")
	f.Severity, f.Message = "high", "seeded"
	f.Evidence = map[string]any{"seeded": true}
	f.Remediation = guard.Remediation{Mode: guard.RemediationOff, Status: "none"}
	if _, err := h.store.UpdateFinding(h.ctx, guard.PartitionOf(f.ResourceID), f.ID, func(*guard.Finding) (*guard.Finding, error) { return &f, nil }); err != nil {
		t.Fatal(err)
	}
}

// A JIT policy's findings are on its VMs: deleting the policy resolves what it
// let be requested (DeletionRule), though closing the policy's own findings
// finds none.
func TestDeletedJITPolicyResolvesItsVMFindings(t *testing.T) {
	const (
		vm        = "/subscriptions/" + subA + "/resourceGroups/rg-a/providers/Microsoft.Compute/virtualMachines/vm-eng-01"
		jitPolicy = "/subscriptions/" + subA + "/resourceGroups/rg-a/providers/Microsoft.Security/locations/eastus/jitNetworkAccessPolicies/default"
	)
	pol := usPolicy(guard.ModeAlert)
	pol.Rules[guard.RuleJITWindow] = guard.RulePolicy{Mode: guard.ModeAlert, MaxDuration: guard.Duration(3 * time.Hour)}
	h := newHarness(t, pol)
	h.observe(at(0), []byte(`{"id":"`+jitPolicy+`","name":"default","type":"Microsoft.Security/locations/jitNetworkAccessPolicies",
		"location":"eastus","kind":"Basic","properties":{"virtualMachines":[{"id":"`+vm+`",
		"ports":[{"number":22,"protocol":"*","allowedSourceAddressPrefix":"*","maxRequestAccessDuration":"PT5H"}]}],
		"requests":[],"provisioningState":"Succeeded"}}`))
	h.handle(change(jitPolicy, "corr-1", "al-1", alice), at(0))
	var f *guard.Finding
	for _, x := range h.findings() {
		if x.Rule == guard.RuleJITWindow && guard.SameID(x.ResourceID, vm) {
			f = &x
		}
	}
	if f == nil || f.Status != guard.StatusOpen {
		t.Fatalf("after a policy allowing 5h: finding %+v, want an open access.jit-window finding on the VM", f)
	}

	h.gone(at(10), jitPolicy)
	sum := h.handle(deletion(jitPolicy, "corr-2", "eg-2", bob), at(10))
	got, err := h.store.GetFinding(h.ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != guard.StatusResolved || sum.Transitions != 1 {
		t.Fatalf("after the policy's deletion: finding %s (%d transitions), want resolved once", got.Status, sum.Transitions)
	}
	res, _ := got.Evidence["resolution"].(map[string]any)
	if facts, _ := res["facts"].(map[string]any); facts["policyDeleted"] != true ||
		!strings.Contains(fmt.Sprint(res["message"]), "JIT policy default was deleted") {
		t.Errorf("resolution = %v, want the policy's deletion", res)
	}
	if got.Trigger != triggerOf(deletion(jitPolicy, "corr-2", "eg-2", bob)) {
		t.Errorf("trigger = %+v, want the deletion's", got.Trigger)
	}
}

// accountOn is the storage account's ARM body with a customer-managed key in
// vault kv-a.
func accountOn(key string) []byte {
	return []byte(`{"id":"` + acctID + `","name":"` + acctID[strings.LastIndex(acctID, "/")+1:] + `","type":"Microsoft.Storage/storageAccounts",
		"location":"eastus","kind":"StorageV2","sku":{"name":"Standard_LRS","tier":"Standard"},
		"properties":{"minimumTlsVersion":"TLS1_2","supportsHttpsTrafficOnly":true,"primaryLocation":"eastus","encryption":{
		"keySource":"Microsoft.Keyvault","keyvaultproperties":{"keyvaulturi":"https://kv-a.vault.azure.net","keyname":"` + key + `",
		"currentVersionedKeyIdentifier":"https://kv-a.vault.azure.net/keys/` + key + `/0b5a8c1d2e3f40718293a4b5c6d7e8f9"}}}}`)
}

// keyIn is the ARM ID of a key in vault kv-a.
func keyIn(name string) string {
	return "/subscriptions/" + subA + "/resourceGroups/rg-a/providers/Microsoft.KeyVault/vaults/kv-a/keys/" + name
}

// A Key Vault key's findings are on the resources that use it, and only the
// key's own changes judge them: a storage account that moves to another key
// has the old key's finding resolved when the account is judged (Referrer: the pipeline finds the old key's state).
func TestAccountMovedOffADisabledKey(t *testing.T) {
	keyID := keyIn("docs-key")
	pol := usPolicy(guard.ModeAlert)
	pol.Rules[guard.RuleEncryptionCMK] = guard.RulePolicy{Mode: guard.ModeAlert}
	h := newHarness(t, pol)
	h.observe(at(0), accountOn("docs-key"))
	h.handle(change(acctID, "corr-1", "al-1", alice), at(0))
	h.observe(at(5), []byte(`{"id":"`+keyID+`","name":"docs-key","type":"Microsoft.KeyVault/vaults/keys","properties":{
		"keyUri":"https://kv-a.vault.azure.net/keys/docs-key",
		"keyUriWithVersion":"https://kv-a.vault.azure.net/keys/docs-key/0b5a8c1d2e3f40718293a4b5c6d7e8f9",
		"attributes":{"enabled":false,"exportable":false}}}`))
	h.handle(change(keyID, "corr-2", "al-2", alice), at(5))
	id := guard.FindingID(guard.RuleEncryptionCMK, acctID, guard.IDKey(keyID))
	f, err := h.store.GetFinding(h.ctx, id)
	if err != nil || f.Status != guard.StatusOpen {
		t.Fatalf("after the key was disabled: %+v, %v; want the account's finding about the key open", f, err)
	}

	h.observe(at(10), accountOn("drawings-key"))
	before := len(h.audit())
	sum := h.handle(change(acctID, "corr-3", "al-3", bob), at(10))
	if f, err = h.store.GetFinding(h.ctx, id); err != nil {
		t.Fatal(err)
	}
	res, _ := f.Evidence["resolution"].(map[string]any)
	if f.Status != guard.StatusResolved || sum.Transitions != 1 || !strings.Contains(fmt.Sprint(res["message"]), "no longer uses Key Vault key docs-key") {
		t.Fatalf("after the account moved to another key: %s (%d transitions), resolution %v; want resolved once, the key no longer used",
			f.Status, sum.Transitions, res)
	}
	if diff := cmp.Diff([]string{"finding.resolved", "change"}, h.auditKinds(before)); diff != "" {
		t.Errorf("audit kinds of the move, verdicts aside (-want +got):\n%s", diff)
	}
	// The verdict that resolves it is recorded as every rule's is.
	vs := h.auditOf("verdict")
	if last := string(vs[len(vs)-1].Data); !strings.Contains(last, "no longer uses Key Vault key docs-key") || vs[len(vs)-1].Subject != acctID {
		t.Errorf("last verdict record %s on %s, want the no-longer-used verdict on the account", last, vs[len(vs)-1].Subject)
	}

	// The same move whose event is lost: the reconcile, which re-reads the
	// account for its open finding, resolves it.
	h2 := newHarness(t, pol)
	h2.observe(at(0), accountOn("docs-key"))
	h2.handle(change(acctID, "corr-1", "al-1", alice), at(0))
	h2.observe(at(5), []byte(`{"id":"`+keyID+`","name":"docs-key","type":"Microsoft.KeyVault/vaults/keys","properties":{
		"keyUri":"https://kv-a.vault.azure.net/keys/docs-key","attributes":{"enabled":false}}}`))
	h2.handle(change(keyID, "corr-2", "al-2", alice), at(5))
	if f, err = h2.store.GetFinding(h2.ctx, id); err != nil || f.Status != guard.StatusOpen {
		t.Fatalf("set-up of the sweep case: %+v, %v; want the finding open", f, err)
	}
	h2.observe(at(10), accountOn("drawings-key"))
	h2.recheckOpen(at(15))
	if f, err = h2.store.GetFinding(h2.ctx, id); err != nil || f.Status != guard.StatusResolved {
		t.Errorf("after a reconcile, the move's event lost: %+v, %v; want resolved", f, err)
	}
}

// A storage account moved onto a key known to be disabled is a finding at
// once (Referrer), not at the key's next change.
func TestAccountMovedOntoADisabledKey(t *testing.T) {
	pol := usPolicy(guard.ModeAlert)
	pol.Rules[guard.RuleEncryptionCMK] = guard.RulePolicy{Mode: guard.ModeAlert}
	h := newHarness(t, pol)
	h.observe(at(0), accountOn("docs-key"))
	h.handle(change(acctID, "corr-1", "al-1", alice), at(0))
	h.observe(at(5), []byte(`{"id":"`+keyIn("old-key")+`","name":"old-key","type":"Microsoft.KeyVault/vaults/keys","properties":{
		"keyUri":"https://kv-a.vault.azure.net/keys/old-key","attributes":{"enabled":false}}}`))
	h.handle(change(keyIn("old-key"), "corr-2", "al-2", alice), at(5)) // disabled, and nobody uses it yet
	if n := len(h.findings()); n != 0 {
		t.Fatalf("before the move: %d findings, want none", n)
	}

	h.observe(at(10), accountOn("old-key"))
	sum := h.handle(change(acctID, "corr-3", "al-3", bob), at(10))
	f, err := h.store.GetFinding(h.ctx, guard.FindingID(guard.RuleEncryptionCMK, acctID, guard.IDKey(keyIn("old-key"))))
	if err != nil || f.Status != guard.StatusOpen || sum.Transitions != 1 || !strings.Contains(f.Message, "uses Key Vault key old-key (vault kv-a), which is disabled") {
		t.Fatalf("after the move onto the disabled key: %+v, %v (%d transitions); want the account's finding open", f, err, sum.Transitions)
	}
	if f.Trigger != triggerOf(change(acctID, "corr-3", "al-3", bob)) {
		t.Errorf("trigger %+v, want the account's change", f.Trigger)
	}
}

func TestNotFoundNeverSeen(t *testing.T) {
	tests := []struct {
		name string
		arm  func(h *harness)
	}{
		{"no arm line at all", func(h *harness) {}},
		{"only a later arm line", func(h *harness) { h.observe(at(30), outside(h.t, acctID)) }},
		{"deleted before", func(h *harness) { h.gone(at(-5), acctID) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, usPolicy(guard.ModeAlert))
			tt.arm(h)
			c := change(acctID, "corr-1", "al-1", alice)

			sum, err := h.p.HandleChange(h.ctx, c, t0)

			if err != nil {
				t.Fatalf("HandleChange: %v, want no error", err)
			}
			if want := (guard.Summary{Changes: 1, Skipped: 1}); sum != want {
				t.Errorf("summary = %+v, want %+v", sum, want)
			}
			if fs := h.findings(); len(fs) != 0 {
				t.Errorf("findings = %+v, want none", fs)
			}
			if got := h.reader.count(acctID); got != 1 {
				t.Errorf("ARM reads = %d, want 1", got)
			}
			if res, err := h.store.GetResource(h.ctx, acctID); err == nil {
				t.Errorf("last known state = %+v, want none stored", res)
			}
			if diff := cmp.Diff([]string{"change"}, h.auditKinds(0)); diff != "" {
				t.Errorf("audit kinds (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSkippedChangesAreNotRead(t *testing.T) {
	otherSubAcct := "/subscriptions/" + subB + "/resourceGroups/rg-export/providers/Microsoft.Storage/storageAccounts/stexportdata"
	vault := rgA + "/providers/Microsoft.KeyVault/vaults/kv-export"
	with := func(f func(*guard.Change)) guard.Change {
		c := change(acctID, "corr-1", "al-1", alice)
		f(&c)
		return c
	}
	scoped := func(mode string) *guard.Policy {
		p := usPolicy(mode)
		p.Scope.Subscriptions = []string{" " + strings.ToUpper(subA) + " "}
		return p
	}
	noRules := scoped(guard.ModeAlert)
	noRules.Rules = nil
	tests := []struct {
		name   string
		policy *guard.Policy
		c      guard.Change
		judged bool // control cases: the change is read and judged
	}{
		{"Started", scoped(guard.ModeAlert), with(func(c *guard.Change) { c.Outcome = guard.OutcomeStarted }), false},
		{"Failed", scoped(guard.ModeAlert), with(func(c *guard.Change) { c.Outcome = guard.OutcomeFailed }), false},
		{"Unknown outcome", scoped(guard.ModeAlert), with(func(c *guard.Change) { c.Outcome = guard.OutcomeUnknown }), false},
		{"subscription outside scope", scoped(guard.ModeAlert), with(func(c *guard.Change) {
			c.ResourceID, c.SubscriptionID = otherSubAcct, subB
		}), false},
		{"rule mode off", scoped(guard.ModeOff), with(func(*guard.Change) {}), false},
		{"rule not in the policy", noRules, with(func(*guard.Change) {}), false},
		{"type no rule judges", scoped(guard.ModeAlert), with(func(c *guard.Change) {
			c.ResourceID, c.ResourceType, c.Operation = vault, "Microsoft.KeyVault/vaults", "Microsoft.KeyVault/vaults/write"
		}), false},
		{"control: succeeded in scope (other casing)", scoped(guard.ModeAlert), with(func(*guard.Change) {}), true},
		{"control: no scope means every subscription", usPolicy(guard.ModeAlert), with(func(c *guard.Change) {
			c.ResourceID, c.SubscriptionID = otherSubAcct, subB
		}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.policy)
			for _, id := range []string{acctID, otherSubAcct} {
				h.observe(at(-5), outside(t, id))
			}
			h.observe(at(-5), []byte(`{"id":"`+vault+`","type":"Microsoft.KeyVault/vaults","location":"westeurope"}`))

			sum := h.handle(tt.c, t0)

			if !tt.judged {
				if want := (guard.Summary{Changes: 1, Skipped: 1}); sum != want {
					t.Errorf("summary = %+v, want %+v", sum, want)
				}
				if n := h.reader.total(); n != 0 {
					t.Errorf("ARM reads = %d, want none", n)
				}
				if fs := h.findings(); len(fs) != 0 {
					t.Errorf("findings = %+v, want none", fs)
				}
				if recs := h.audit(); len(recs) != 0 {
					t.Errorf("audit = %+v, want nothing", recs)
				}
				if h.processed(tt.c) {
					t.Errorf("ledger marks %s processed; a skipped change must stay unmarked", tt.c.OperationKey())
				}
				return
			}
			if want := (guard.Summary{Changes: 1, Verdicts: 1, Transitions: 1}); sum != want {
				t.Errorf("summary = %+v, want %+v", sum, want)
			}
			if n := h.reader.count(tt.c.ResourceID); n != 1 {
				t.Errorf("ARM reads = %d, want 1", n)
			}
			if f := h.finding(tt.c.ResourceID); f == nil || f.Status != guard.StatusOpen {
				t.Errorf("finding = %+v, want open", f)
			}
		})
	}
}

// delivery is one Ingest call.
type delivery struct {
	src  guard.Source
	body []byte
}

func TestOneTransitionPerOperation(t *testing.T) {
	const corr = "6f0e2a1c-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
	lowerID := strings.ToLower(acctID)
	upperOp := strings.ToUpper(writeOp)
	upperID := strings.ToUpper(acctID) // as the Activity Log often spells it
	alSuccess := alRecord(upperID, upperOp, "Success", corr, at(-1), alice)
	alStart := alRecord(upperID, upperOp, "Start", corr, at(-2), alice)
	alAccept := alRecord(upperID, upperOp, "Accept", corr, at(-2), alice)
	egSuccess := egEvent(lowerID, "Microsoft.Resources.ResourceWriteSuccess", writeOp, strings.ToUpper(corr), "eg-1", at(-1), alice)
	egFailure := egEvent(lowerID, "Microsoft.Resources.ResourceWriteFailure", writeOp, "corr-failed", "eg-0", at(-3), alice)
	tests := []struct {
		name        string
		deliveries  func(t *testing.T) []delivery
		wantSum     guard.Summary
		wantTrigSrc guard.Source
	}{
		{
			name: "same Activity Log message twice",
			deliveries: func(t *testing.T) []delivery {
				m := alMessage(t, alSuccess)
				return []delivery{{guard.SourceEventHub, m}, {guard.SourceEventHub, m}}
			},
			wantSum:     guard.Summary{Changes: 2, Duplicates: 1, Verdicts: 1, Transitions: 1},
			wantTrigSrc: guard.SourceEventHub,
		},
		{
			name: "same record twice in one batch",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{guard.SourceEventHub, alMessage(t, alSuccess, alSuccess)}}
			},
			wantSum:     guard.Summary{Changes: 2, Duplicates: 1, Verdicts: 1, Transitions: 1},
			wantTrigSrc: guard.SourceEventHub,
		},
		{
			name: "same Event Grid event twice",
			deliveries: func(t *testing.T) []delivery {
				d := egDelivery(t, egSuccess)
				return []delivery{{guard.SourceEventGrid, d}, {guard.SourceEventGrid, d}}
			},
			wantSum:     guard.Summary{Changes: 2, Duplicates: 1, Verdicts: 1, Transitions: 1},
			wantTrigSrc: guard.SourceEventGrid,
		},
		{
			name: "Activity Log, then Event Grid (other casing)",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{guard.SourceEventHub, alMessage(t, alSuccess)}, {guard.SourceEventGrid, egDelivery(t, egSuccess)}}
			},
			wantSum:     guard.Summary{Changes: 2, Duplicates: 1, Verdicts: 1, Transitions: 1},
			wantTrigSrc: guard.SourceEventHub,
		},
		{
			name: "Event Grid, then Activity Log",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{guard.SourceEventGrid, egDelivery(t, egSuccess)}, {guard.SourceEventHub, alMessage(t, alSuccess)}}
			},
			wantSum:     guard.Summary{Changes: 2, Duplicates: 1, Verdicts: 1, Transitions: 1},
			wantTrigSrc: guard.SourceEventGrid,
		},
		{
			name: "Start and Success in one batch",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{guard.SourceEventHub, alMessage(t, alStart, alSuccess)}}
			},
			wantSum:     guard.Summary{Changes: 2, Skipped: 1, Verdicts: 1, Transitions: 1},
			wantTrigSrc: guard.SourceEventHub,
		},
		{
			name: "Start, Accept and Success in separate messages, then all again",
			deliveries: func(t *testing.T) []delivery {
				s, a, ok := alMessage(t, alStart), alMessage(t, alAccept), alMessage(t, alSuccess)
				return []delivery{{guard.SourceEventHub, s}, {guard.SourceEventHub, a}, {guard.SourceEventHub, ok},
					{guard.SourceEventHub, s}, {guard.SourceEventHub, a}, {guard.SourceEventHub, ok}}
			},
			wantSum:     guard.Summary{Changes: 6, Skipped: 4, Duplicates: 1, Verdicts: 1, Transitions: 1},
			wantTrigSrc: guard.SourceEventHub,
		},
		{
			name: "a failed write of another operation first",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{guard.SourceEventGrid, egDelivery(t, egFailure, egSuccess)}, {guard.SourceEventHub, alMessage(t, alSuccess)}}
			},
			wantSum:     guard.Summary{Changes: 3, Skipped: 1, Duplicates: 1, Verdicts: 1, Transitions: 1},
			wantTrigSrc: guard.SourceEventGrid,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, usPolicy(guard.ModeAlert))
			h.observe(at(-5), outside(t, acctID))
			var sum guard.Summary
			for _, d := range tt.deliveries(t) {
				sum.Add(h.ingest(d.src, d.body, t0))
			}
			if sum != tt.wantSum {
				t.Errorf("summary = %+v, want %+v", sum, tt.wantSum)
			}
			if n := len(h.auditOf("finding.open")); n != 1 {
				t.Errorf("finding.open audit records = %d, want 1", n)
			}
			if n := len(h.auditOf("change")); n != 1 {
				t.Errorf("change audit records = %d, want 1", n)
			}
			if n := h.reader.count(acctID); n != 1 {
				t.Errorf("ARM reads = %d, want 1", n)
			}
			f := h.finding(acctID)
			if f == nil {
				t.Fatal("no finding stored")
			}
			if f.Status != guard.StatusOpen || f.Trigger.Source != tt.wantTrigSrc || f.Trigger.EventID == "" ||
				!strings.EqualFold(f.Trigger.CorrelationID, corr) || f.Trigger.Caller != alice {
				t.Errorf("finding %s triggered by %+v; want open, triggered by %s (correlation %s, caller %s)",
					f.Status, f.Trigger, tt.wantTrigSrc, corr, alice)
			}
			if f.ResourceID != acctID || f.SubscriptionID != subA {
				t.Errorf("finding names %s in %s, want %s in %s as ARM spells them", f.ResourceID, f.SubscriptionID, acctID, subA)
			}
			op := guard.Change{CorrelationID: corr, ResourceID: acctID, Operation: writeOp}
			if !h.processed(op) {
				t.Errorf("ledger: %s not marked processed", op.OperationKey())
			}
		})
	}
}

func TestIngestPoison(t *testing.T) {
	good := func(t *testing.T) string {
		return string(alMessage(t, alRecord(acctID, writeOp, "Success", "corr-1", at(-1), alice)))
	}
	goodRecord := func(t *testing.T) string {
		return strings.TrimSuffix(strings.TrimPrefix(good(t), `{"records":[`), `]}`)
	}
	goodEvent := func(t *testing.T) string {
		return strings.TrimSuffix(strings.TrimPrefix(string(egDelivery(t, egEvent(acctID,
			"Microsoft.Resources.ResourceWriteSuccess", writeOp, "corr-1", "eg-1", at(-1), alice))), "["), "]")
	}
	tests := []struct {
		name        string
		src         guard.Source
		body        func(t *testing.T) string
		wantPoison  string // the body kept
		wantReason  string // a part of the reason
		wantSum     guard.Summary
		wantFinding bool
	}{
		{
			name: "Event Hubs body that is not JSON", src: guard.SourceEventHub,
			body:       func(*testing.T) string { return `{"records": [` },
			wantPoison: `{"records": [`, wantReason: "activity log message",
			wantSum: guard.Summary{Rejected: 1},
		},
		{
			name: "Event Hubs body without records", src: guard.SourceEventHub,
			body:       func(*testing.T) string { return `{"value": []}` },
			wantPoison: `{"value": []}`, wantReason: "no records array",
			wantSum: guard.Summary{Rejected: 1},
		},
		{
			name: "Event Grid body neither object nor array", src: guard.SourceEventGrid,
			body:       func(*testing.T) string { return `"Microsoft.Resources.ResourceWriteSuccess"` },
			wantPoison: `"Microsoft.Resources.ResourceWriteSuccess"`, wantReason: "neither a JSON object nor an array",
			wantSum: guard.Summary{Rejected: 1},
		},
		{
			name: "one corrupt record among good ones", src: guard.SourceEventHub,
			body: func(t *testing.T) string {
				return `{"records":[{"time":"2025-03-10T13:59:00Z","resourceId":7},` + goodRecord(t) + `]}`
			},
			wantPoison: `{"time":"2025-03-10T13:59:00Z","resourceId":7}`, wantReason: "activity log record 0",
			wantSum:     guard.Summary{Rejected: 1, Changes: 1, Verdicts: 1, Transitions: 1},
			wantFinding: true,
		},
		{
			name: "one corrupt event among good ones", src: guard.SourceEventGrid,
			body:       func(t *testing.T) string { return `[` + goodEvent(t) + `,[1,2]]` },
			wantPoison: `[1,2]`, wantReason: "event grid event 1",
			wantSum:     guard.Summary{Rejected: 1, Changes: 1, Verdicts: 1, Transitions: 1},
			wantFinding: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, usPolicy(guard.ModeAlert))
			h.observe(at(-5), outside(t, acctID))
			body := []byte(tt.body(t))

			sum := h.ingest(tt.src, body, t0)
			if sum != tt.wantSum {
				t.Errorf("summary = %+v, want %+v", sum, tt.wantSum)
			}
			// At-least-once: the same delivery again keeps one poison record.
			h.ingest(tt.src, body, at(1))

			ps := h.poison()
			if len(ps) != 1 {
				t.Fatalf("got %d poison records, want 1: %+v", len(ps), ps)
			}
			p := ps[0]
			if p.Source != string(tt.src) || p.Body != tt.wantPoison || !p.At.Equal(t0) || p.ID == "" {
				t.Errorf("poison = source %q, body %q, at %s, id %q; want source %q, body %q, at %s",
					p.Source, p.Body, p.At, p.ID, tt.src, tt.wantPoison, t0)
			}
			if !strings.Contains(p.Reason, tt.wantReason) {
				t.Errorf("poison reason = %q, want it to contain %q", p.Reason, tt.wantReason)
			}
			f := h.finding(acctID)
			if tt.wantFinding != (f != nil) {
				t.Fatalf("finding = %+v, want one: %v", f, tt.wantFinding)
			}
			if f != nil && (f.Status != guard.StatusOpen || !f.FirstSeen.Equal(t0)) {
				t.Errorf("finding status %s, firstSeen %s; want open at %s", f.Status, f.FirstSeen, t0)
			}
		})
	}
}

func TestStoreFailureIsAnError(t *testing.T) {
	good := func(t *testing.T) []byte {
		return alMessage(t, alRecord(acctID, writeOp, "Success", "corr-1", at(-1), alice))
	}
	tests := []struct {
		name string
		call func(t *testing.T, h *harness) error
	}{
		{"Ingest of a good message", func(t *testing.T, h *harness) error {
			_, err := h.p.Ingest(h.ctx, guard.SourceEventHub, good(t), t0)
			return err
		}},
		{"Ingest of an unreadable message (poison cannot be kept)", func(t *testing.T, h *harness) error {
			_, err := h.p.Ingest(h.ctx, guard.SourceEventHub, []byte("not json"), t0)
			return err
		}},
		{"Ingest of a batch with a corrupt record", func(t *testing.T, h *harness) error {
			_, err := h.p.Ingest(h.ctx, guard.SourceEventHub, []byte(`{"records":[42]}`), t0)
			return err
		}},
		{"HandleChange", func(t *testing.T, h *harness) error {
			_, err := h.p.HandleChange(h.ctx, change(acctID, "corr-1", "al-1", alice), t0)
			return err
		}},
		{"Sweep", func(t *testing.T, h *harness) error {
			_, err := h.p.Sweep(h.ctx, t0)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, usPolicy(guard.ModeAlert))
			h.observe(at(-5), outside(t, acctID))
			h.setClock(t0)
			if err := h.store.Close(); err != nil {
				t.Fatal(err)
			}
			if err := tt.call(t, h); err == nil {
				t.Error("got no error from a closed store, want one so that the host retries")
			}
		})
	}
}

// TestConcurrentDuplicates delivers the same message from several goroutines at
// once, as concurrent invocations of the host may: one transition, one record.
func TestConcurrentDuplicates(t *testing.T) {
	h := newHarness(t, usPolicy(guard.ModeAlert))
	h.observe(at(-5), outside(t, acctID))
	h.setClock(t0)
	msg := alMessage(t, alRecord(acctID, writeOp, "Success", "corr-1", at(-1), alice))
	const n = 4
	sums := make([]guard.Summary, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sums[i], errs[i] = h.p.Ingest(h.ctx, guard.SourceEventHub, msg, t0)
		}()
	}
	wg.Wait()
	var total guard.Summary
	for i := range n {
		if errs[i] != nil {
			t.Errorf("delivery %d: %v", i, errs[i])
		}
		total.Add(sums[i])
	}
	if total.Transitions != 1 {
		t.Errorf("transitions = %d over %d deliveries, want 1", total.Transitions, n)
	}
	if got := len(h.auditOf("finding.open")); got != 1 {
		t.Errorf("finding.open audit records = %d, want 1", got)
	}
	if f := h.finding(acctID); f == nil || f.Status != guard.StatusOpen {
		t.Errorf("finding = %+v, want open", f)
	}
}

// TestRetryAfterStoreFailure delivers a message while the store is down and
// again once it is back: the retry opens the finding, once.
func TestRetryAfterStoreFailure(t *testing.T) {
	file := filepath.Join(t.TempDir(), "exportguard.db")
	st, err := sqlite.Open(t.Context(), file)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessOn(t, st, usPolicy(guard.ModeAlert))
	h.observe(at(-5), outside(t, acctID))
	h.setClock(t0)
	msg := alMessage(t, alRecord(acctID, writeOp, "Success", "corr-1", at(-1), alice))
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.p.Ingest(h.ctx, guard.SourceEventHub, msg, t0); err == nil {
		t.Fatal("Ingest on a closed store: got no error, want one")
	}

	st2, err := sqlite.Open(t.Context(), file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	h.store, h.p.Store = st2, st2
	for i := range 2 { // the retry, and a late duplicate
		if _, err := h.p.Ingest(h.ctx, guard.SourceEventHub, msg, at(1+i)); err != nil {
			t.Fatalf("retry %d: %v", i, err)
		}
	}
	f := h.finding(acctID)
	if f == nil || f.Status != guard.StatusOpen || !f.FirstSeen.Equal(at(1)) {
		t.Fatalf("finding = %+v, want open since the retry at %s", f, at(1))
	}
	if n := len(h.auditOf("finding.open")); n != 1 {
		t.Errorf("finding.open audit records = %d, want 1", n)
	}
}

// TestResourceCarriedByEvent: a Resource Notifications event carries the
// resource, so ARM is not read.
func TestResourceCarriedByEvent(t *testing.T) {
	tests := []struct {
		name       string
		body       func(t *testing.T) []byte
		wantStatus guard.Status
	}{
		{"violating state", func(t *testing.T) []byte { return outside(t, acctID) }, guard.StatusOpen},
		{"compliant state", func(t *testing.T) []byte { return inside(t, acctID) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, usPolicy(guard.ModeAlert))
			ev := map[string]any{
				"specversion": "1.0", "id": "rn-1", "source": "/subscriptions/" + subA,
				"type": "Microsoft.ResourceNotifications.Resources.CreatedOrUpdated", "subject": acctID,
				"time": at(-1).Format(time.RFC3339Nano),
				"data": map[string]any{"resourceInfo": jsonObject(t, tt.body(t))},
			}
			sum := h.ingest(guard.SourceEventGrid, egDelivery(t, ev), t0)
			if sum.Verdicts != 1 {
				t.Errorf("summary = %+v, want 1 verdict", sum)
			}
			if n := h.reader.total(); n != 0 {
				t.Errorf("ARM reads = %d, want none", n)
			}
			f := h.finding(acctID)
			if tt.wantStatus == "" {
				if f != nil {
					t.Errorf("finding = %+v, want none", f)
				}
				return
			}
			if f == nil || f.Status != tt.wantStatus || f.Trigger.EventID != "rn-1" {
				t.Errorf("finding = %+v, want %s triggered by rn-1", f, tt.wantStatus)
			}
		})
	}
}

func jsonObject(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestVerdictsAreAudited(t *testing.T) {
	h := newHarness(t, usPolicy(guard.ModeAlert))
	h.observe(at(-5), outside(t, acctID))
	h.handle(change(acctID, "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "al-v1", alice), t0)
	vs := h.auditOf("verdict")
	if len(vs) != 1 || vs[0].Subject != acctID || !strings.Contains(string(vs[0].Data), `"violation":true`) ||
		!strings.Contains(string(vs[0].Data), `"eventId":"al-v1"`) {
		t.Fatalf("verdict records after one event = %+v, want one naming the account, the violation and the event", vs)
	}
	h.sweep(at(10)) // same verdict again, on a tick: no transition, nothing recorded
	if got := len(h.auditOf("verdict")); got != 1 {
		t.Errorf("verdict records after a sweep with no transition = %d, want still 1", got)
	}
}

// A state an event carried may open or keep a finding open; what would
// resolve one makes the pipeline read ARM, and only ARM's answer resolves
// (DESIGN 3.6). Whatever is judged, a state ARM answered stays the last known
// one: the state an event carried never replaces it.
func TestCarriedStateResolvesOnlyThroughARM(t *testing.T) {
	tests := []struct {
		name       string
		arm        func(t *testing.T, h *harness) // what ARM answers when the payload arrives
		wantStatus guard.Status
		wantFacts  bool // resolved as deleted
		wantReads  int
	}{
		{"ARM still violating", func(t *testing.T, h *harness) {}, guard.StatusOpen, false, 2},
		{"ARM compliant too", func(t *testing.T, h *harness) { h.observe(at(8), inside(t, acctID)) }, guard.StatusResolved, false, 2},
		{"ARM answers 404", func(t *testing.T, h *harness) { h.gone(at(8), acctID) }, guard.StatusResolved, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, usPolicy(guard.ModeAlert))
			h.observe(at(-5), outside(t, acctID))
			h.handle(change(acctID, "corr-1", "al-1", alice), t0)
			tt.arm(t, h)
			carried, err := guard.NewResource(inside(t, acctID), at(9))
			if err != nil {
				t.Fatal(err)
			}
			c := change(acctID, "", "rn-1", "")
			c.Source, c.Resource = guard.SourceEventGrid, carried

			sum := h.handle(c, at(10))

			f := h.finding(acctID)
			if f.Status != tt.wantStatus {
				t.Fatalf("finding = %s, want %s (summary %+v)", f.Status, tt.wantStatus, sum)
			}
			if sum.Unconfirmed != 1 {
				t.Errorf("summary = %+v, want the payload's resolution unconfirmed once", sum)
			}
			res, _ := f.Evidence["resolution"].(map[string]any)
			if facts, _ := res["facts"].(map[string]any); (facts["deleted"] == true) != tt.wantFacts {
				t.Errorf("resolution = %v, want deleted %v", res, tt.wantFacts)
			}
			if got := h.reader.count(acctID); got != tt.wantReads {
				t.Errorf("ARM reads = %d, want %d", got, tt.wantReads)
			}
			known, err := h.store.GetResource(h.ctx, acctID)
			if err != nil || known.FromEvent {
				t.Errorf("last known state = %+v, %v; want one ARM answered", known, err)
			}
		})
	}
}

// ARM's 404 settles the findings about a resource the guard never judged
// itself (a VM a JIT grant was checked on) when the reconcile asks; with no
// answer at all (no arm line), they stay.
func TestNotFoundSettlesFindingsOfAResourceNeverJudged(t *testing.T) {
	vm := rgA + "/providers/Microsoft.Compute/virtualMachines/vm-jit"
	tests := []struct {
		name string
		arm  func(h *harness)
		act  func(h *harness)
		want guard.Status
	}{
		{"reconcile, ARM answers 404", func(h *harness) { h.gone(at(5), vm) }, func(h *harness) { h.recheckOpen(at(10)) }, guard.StatusResolved},
		{"reconcile, no answer", func(h *harness) {}, func(h *harness) { h.recheckOpen(at(10)) }, guard.StatusOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := usPolicy(guard.ModeAlert)
			pol.Rules[guard.RuleJITOverstay] = guard.RulePolicy{Mode: guard.ModeAlert}
			h := newHarness(t, pol)
			seed(t, h, guard.Finding{Rule: guard.RuleJITOverstay, Status: guard.StatusOpen, ResourceID: vm,
				SubscriptionID: subA, FirstSeen: at(-30), LastSeen: at(-30)})
			tt.arm(h)
			tt.act(h)
			if f := h.findingOf(guard.RuleJITOverstay, vm); f.Status != tt.want {
				t.Errorf("access.jit-overstay on the VM = %s, want %s", f.Status, tt.want)
			}
		})
	}
}
