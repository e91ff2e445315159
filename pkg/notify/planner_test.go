package notify_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/notify"
	"github.com/exportguard/exportguard/pkg/notify/notifytest"
)

var allKinds = []string{notify.KindTeams, notify.KindSlack, notify.KindWebhook}

func newPlanner(t *testing.T, cloud, public string, kinds ...string) *notify.Planner {
	t.Helper()
	p, err := notify.NewPlanner(notify.Config{Cloud: cloud, PublicURL: public, Kinds: kinds})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func aFinding(status guard.Status, mode, remStatus string) guard.Finding {
	at := time.Date(2026, 11, 3, 14, 2, 12, 20_000_000, time.UTC)
	id := "/subscriptions/b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80/resourceGroups/rg-itar-gov/providers/Microsoft.Storage/storageAccounts/itargovdata"
	return guard.Finding{ID: guard.FindingID(guard.RuleResidencyReplication, id, ""), Rule: guard.RuleResidencyReplication,
		Severity: "high", Status: status, SubscriptionID: guard.SubscriptionOf(id), ResourceID: id,
		Message: "Storage account itargovdata replicates (Standard_RAGRS) to usgovtexas.", Evidence: map[string]any{"sku": "Standard_RAGRS"},
		FirstSeen: at, LastSeen: at, Trigger: guard.Trigger{Source: guard.SourceEventGrid, EventID: "e1", Caller: "carol.diaz@contoso.us"},
		Remediation: guard.Remediation{Action: "set sku.name to Standard_LRS", Mode: mode, Status: remStatus}}
}

// People are told when a finding becomes open and when it stops being open;
// nothing else is notified.
func TestOnlyTransitionsIntoOrOutOfOpenNotify(t *testing.T) {
	p := newPlanner(t, "AzureCloud", "", allKinds...)
	for _, tt := range []struct {
		from, to guard.Status
		want     notify.Event
	}{
		{"", guard.StatusOpen, notify.EventOpened},
		{guard.StatusResolved, guard.StatusOpen, notify.EventReopened},
		{guard.StatusExempt, guard.StatusOpen, notify.EventExemptionExpired},
		{guard.StatusOpen, guard.StatusResolved, notify.EventResolved},
		{guard.StatusOpen, guard.StatusExempt, notify.EventExempted},
		{"", guard.StatusExempt, ""},
		{guard.StatusExempt, guard.StatusResolved, ""},
		{guard.StatusResolved, guard.StatusExempt, ""},
	} {
		f := aFinding(tt.to, guard.RemediationOff, "none")
		items, err := p.Plan(context.Background(), guard.Transition{Finding: f, From: tt.from})
		if err != nil {
			t.Fatal(err)
		}
		if tt.want == "" {
			if len(items) != 0 {
				t.Errorf("%q -> %s: %d items, want none", tt.from, tt.to, len(items))
			}
			continue
		}
		if len(items) != 3 {
			t.Fatalf("%q -> %s: %d items, want one per target", tt.from, tt.to, len(items))
		}
		seen := map[string]bool{}
		for i, it := range items {
			if it.Kind != allKinds[i] || seen[it.ID] || it.ID != notify.ItemID(f.ID, string(tt.to), f.LastSeen, it.Kind) {
				t.Errorf("item %d: kind %s id %s", i, it.Kind, it.ID)
			}
			seen[it.ID] = true
			m, err := notify.DecodeMessage(it.Payload)
			if err != nil || m.Event != tt.want || !m.At.Equal(f.LastSeen) || m.From != tt.from {
				t.Errorf("%q -> %s: message %+v, %v", tt.from, tt.to, m, err)
			}
		}
		again, _ := p.Plan(context.Background(), guard.Transition{Finding: f, From: tt.from})
		if again[0].ID != items[0].ID {
			t.Error("planning one transition twice gives two IDs")
		}
	}
	if items, _ := newPlanner(t, "AzureCloud", "").Plan(context.Background(), guard.Transition{Finding: aFinding(guard.StatusOpen, "off", "none")}); len(items) != 0 {
		t.Error("no target, yet items")
	}
}

func TestLinks(t *testing.T) {
	pub := newPlanner(t, "AzureCloud", notifytest.PublicURL+"/", notify.KindTeams)
	gov := newPlanner(t, "AzureUSGovernment", notifytest.PublicURL, notify.KindTeams)
	bare := newPlanner(t, "AzureUSGovernment", "", notify.KindTeams)
	approve := aFinding(guard.StatusOpen, guard.RemediationApprove, "awaiting-approval")
	base := notifytest.PublicURL + "/api/findings/" + approve.ID

	m := gov.Message(approve, "", notify.EventOpened, approve.LastSeen, "")
	if m.Links.Portal != "https://portal.azure.us/#@/resource"+approve.ResourceID || m.Links.Approve != base+"/approve" || m.Links.Deny != base+"/deny" {
		t.Errorf("Government, approve mode: %+v", m.Links)
	}
	if !strings.Contains(m.NextStep, "Approve remediation or Deny remediation") {
		t.Errorf("next step %q", m.NextStep)
	}
	m = pub.Message(approve, "", notify.EventOpened, approve.LastSeen, "")
	if m.Links.Portal != "https://portal.azure.com/#@/resource"+approve.ResourceID || m.Links.Approve != base+"/approve" {
		t.Errorf("public cloud: %+v (a trailing / on the public URL is dropped)", m.Links)
	}
	m = bare.Message(approve, "", notify.EventOpened, approve.LastSeen, "")
	if m.Links.Approve != "" || !strings.Contains(m.NextStep, "in exportguard, finding "+approve.ID) {
		t.Errorf("no public URL: %+v %q", m.Links, m.NextStep)
	}
	for _, f := range []guard.Finding{
		aFinding(guard.StatusOpen, guard.RemediationAuto, "planned"),
		aFinding(guard.StatusOpen, guard.RemediationDryRun, "planned"),
		aFinding(guard.StatusResolved, guard.RemediationApprove, "awaiting-approval"),
	} {
		e := notify.EventOpened
		if f.Status == guard.StatusResolved {
			e = notify.EventResolved
		}
		if m := gov.Message(f, "", e, f.LastSeen, ""); m.Links.Approve != "" || m.Links.Deny != "" {
			t.Errorf("mode %s status %s, %s: approve links %+v", f.Remediation.Mode, f.Remediation.Status, e, m.Links)
		}
	}
	if _, err := notify.NewPlanner(notify.Config{PublicURL: "exportguard.contoso.us"}); err == nil {
		t.Error("a public URL without scheme is accepted")
	}
	if _, err := notify.NewPlanner(notify.Config{Cloud: "AzureChinaCloud"}); err == nil {
		t.Error("an unknown cloud is accepted")
	}
}

func TestPlanRemediation(t *testing.T) {
	p := newPlanner(t, "AzureUSGovernment", notifytest.PublicURL, allKinds...)
	at := time.Date(2026, 11, 3, 14, 20, 31, 0, time.UTC)
	f := aFinding(guard.StatusOpen, guard.RemediationAuto, "applied")
	items, err := p.PlanRemediation(notify.RemediationOutcome{Finding: f, At: at, Detail: "sku.name is now Standard_LRS"})
	if err != nil || len(items) != 3 {
		t.Fatalf("%d items, %v", len(items), err)
	}
	for _, it := range items {
		if it.ID != notify.ItemID(f.ID, "remediation-applied", at, it.Kind) || !it.NextAttempt.Equal(at) || !it.CreatedAt.Equal(at) {
			t.Errorf("item %+v", it)
		}
	}
	m, _ := notify.DecodeMessage(items[0].Payload)
	if m.Event != notify.EventRemediationApplied || !strings.Contains(m.NextStep, "sku.name is now Standard_LRS") || m.Links.Approve != "" {
		t.Errorf("message %+v", m)
	}
	f.Remediation.Status = "failed"
	items, _ = p.PlanRemediation(notify.RemediationOutcome{Finding: f, At: at, Detail: "409 Conflict"})
	m, _ = notify.DecodeMessage(items[0].Payload)
	if m.Event != notify.EventRemediationFailed || !strings.HasPrefix(m.NextStep, "The remediation failed: 409 Conflict. Fix it by hand") {
		t.Errorf("failed: %+v", m)
	}
	// The time and reason default to the remediation engine's record.
	f.Evidence = map[string]any{"sku": "Standard_RAGRS", "remediation": map[string]any{"planId": "p1", "outcome": "failed",
		"reason": "ARM answered 403 Forbidden", "at": "2026-11-03T14:25:00Z"}}
	items, err = p.PlanRemediation(notify.RemediationOutcome{Finding: f})
	if err != nil {
		t.Fatal(err)
	}
	m, _ = notify.DecodeMessage(items[0].Payload)
	if !m.At.Equal(at.Add(4*time.Minute+29*time.Second)) || !strings.HasPrefix(m.NextStep, "The remediation failed: ARM answered 403 Forbidden.") ||
		m.Evidence != "Facts: sku Standard_RAGRS." {
		t.Errorf("from the record: at %v, next %q, evidence %q", m.At, m.NextStep, m.Evidence)
	}
	f.Evidence = nil
	if _, err := p.PlanRemediation(notify.RemediationOutcome{Finding: f}); err == nil {
		t.Error("an outcome without a time is accepted")
	}
	f.Remediation.Status = "planned"
	if _, err := p.PlanRemediation(notify.RemediationOutcome{Finding: f, At: at}); err == nil {
		t.Error("a planned remediation is no outcome")
	}
}

func TestEvidenceSentence(t *testing.T) {
	ev := map[string]any{
		"sku": "Standard_RAGRS", "secondaryLocation": "northeurope", "enabled": false, "port": float64(22),
		"nsgId":          "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg-a",
		"outsideRegions": []any{"North Europe", "West Europe", "UK South", "France Central", "Germany West Central"},
		"openRules":      []any{map[string]any{"x": 1}},
		"exemption":      map[string]any{"reason": "r"},
		"resolution":     map[string]any{"facts": map[string]any{"sku": "Standard_LRS"}, "message": "fixed"},
	}
	got := notify.EvidenceSentence(ev, false)
	want := "Facts: enabled false; nsgId nsg-a; outsideRegions North Europe, West Europe, UK South, France Central, and 1 more; port 22; secondaryLocation northeurope; sku Standard_RAGRS."
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := notify.EvidenceSentence(ev, true); got != "After the fix: sku Standard_LRS." {
		t.Errorf("resolved: %q", got)
	}
	if got := notify.EvidenceSentence(map[string]any{}, false); got != "" {
		t.Errorf("no evidence: %q", got)
	}
}
