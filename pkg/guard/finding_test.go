package guard_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
)

// A finding's JSON has the fields of DESIGN 3.4 and no other, even while a
// transition is pending; a store keeps the pending transition beside them
// and gets the same finding back.
func TestFindingJSONIsTheContract(t *testing.T) {
	at := time.Date(2026, 11, 18, 9, 27, 5, 630_000_000, time.UTC)
	f := guard.Finding{
		ID: "87b02846b61d41e2d226ceee46b347fb", Rule: guard.RuleResidencyReplication, Severity: "high",
		Status: guard.StatusResolved, SubscriptionID: "7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70",
		ResourceID: "/subscriptions/7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/itarcad",
		Message:    "m", Evidence: map[string]any{"sku": "Standard_RAGRS"}, FirstSeen: at, LastSeen: at, ResolvedAt: &at,
		Trigger:     guard.Trigger{Source: guard.SourceEventHub, EventID: "e", CorrelationID: "c", Caller: "alice"},
		Remediation: guard.Remediation{Action: "a", Mode: "auto", Status: "applied"},
		Pending:     &guard.PendingTransition{From: guard.StatusOpen, At: at, By: "0123456789abcdef"},
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"evidence", "firstSeen", "id", "lastSeen", "message", "remediation", "resolvedAt", "resourceId",
		"rule", "severity", "status", "subscriptionId", "trigger"} // DESIGN 3.4
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("finding JSON keys (-DESIGN 3.4 +got):\n%s", diff)
	}

	stored, err := json.Marshal(guard.Stored(f))
	if err != nil {
		t.Fatal(err)
	}
	var back guard.StoredFinding
	if err := json.Unmarshal(stored, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(f, back.Unstored()); diff != "" {
		t.Errorf("stored and read back (-want +got):\n%s\n%s", diff, stored)
	}
	var sm map[string]json.RawMessage
	_ = json.Unmarshal(stored, &sm)
	if _, ok := sm["pending"]; !ok {
		t.Errorf("stored form has no pending: %s", stored)
	}
	f.Pending = nil
	if stored, _ = json.Marshal(guard.Stored(f)); string(stored) != string(b) {
		t.Errorf("stored form of a finding with nothing pending = %s, want its JSON %s", stored, b)
	}
}
