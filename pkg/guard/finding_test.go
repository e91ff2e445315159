package guard_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
)

// A finding's JSON has the fields of DESIGN 3.4 and no other.
func TestFindingJSONIsTheContract(t *testing.T) {
	at := time.Date(2026, 11, 18, 9, 27, 5, 630_000_000, time.UTC)
	f := guard.Finding{
		ID: "87b02846b61d41e2d226ceee46b347fb", Rule: guard.RuleResidencyReplication, Severity: "high",
		Status: guard.StatusResolved, SubscriptionID: "7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70",
		ResourceID: "/subscriptions/7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/itarcad",
		Message:    "m", Evidence: map[string]any{"sku": "Standard_RAGRS"}, FirstSeen: at, LastSeen: at, ResolvedAt: &at,
		Trigger:     guard.Trigger{Source: guard.SourceEventHub, EventID: "e", CorrelationID: "c", Caller: "alice"},
		Remediation: guard.Remediation{Action: "a", Mode: "auto", Status: "applied"},
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
}
