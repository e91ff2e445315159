package activitylog

import (
	"fmt"
	"strings"
	"testing"
)

// TestDecodeRefusesBadIDs: a record whose resourceId could be read two ways is
// rejected with the reason, and the records around it in the same message are
// still read (DESIGN 3.6, issue 14 case 5). The upper-case IDs the diagnostic
// setting sends pass.
func TestDecodeRefusesBadIDs(t *testing.T) {
	const allowed = "/SUBSCRIPTIONS/7D5C2A1E-4B8F-4C3A-9E2D-1F6A8B3C5D70/RESOURCEGROUPS/RG-DR"
	with := func(id string) map[string]any {
		r := baseRecord()
		r["resourceId"] = id
		return r
	}
	tests := []struct{ id, reason string }{
		{allowed + "/../../../SUBSCRIPTIONS/OTHER/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.STORAGE/STORAGEACCOUNTS/X", "dot segment"},
		{allowed + "/%2E%2E/%2E%2E/SUBSCRIPTIONS/OTHER", "percent-escape"},
		{allowed + "\\..\\..\\SUBSCRIPTIONS\\OTHER", "backslash"},
		{allowed + "/PROVIDERS/MICROSOFT.STORAGE/STORAGEACCOUNTS/X\u0000", "control character"},
		{allowed + "//PROVIDERS/MICROSOFT.STORAGE/STORAGEACCOUNTS/X", "empty segment"},
		{allowed + "/PROVIDERS/MICROSOFT.STORAGE/STORAGEACCOUNTS/X/", "trailing slash"},
		{"SUBSCRIPTIONS/OTHER/RESOURCEGROUPS/RG", "no leading slash"},
	}
	good := with(allowed + "/PROVIDERS/MICROSOFT.STORAGE/STORAGEACCOUNTS/EUDRBACKUP")
	records := []any{good}
	for _, tt := range tests {
		records = append(records, with(tt.id), good)
	}
	got, err := Decode(envelope(t, records...))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Changes) != len(tests)+1 || len(got.Rejected) != len(tests) {
		t.Fatalf("%d changes and %d rejected, want %d and %d", len(got.Changes), len(got.Rejected), len(tests)+1, len(tests))
	}
	for i, tt := range tests {
		r := got.Rejected[i]
		want := fmt.Sprintf("activity log record %d: resourceId: resource ID refused: %s", 2*i+1, tt.reason)
		if r.Reason != want {
			t.Errorf("rejected %d: %q, want %q", i, r.Reason, want)
		}
		if !strings.Contains(string(r.Body), "resourceId") {
			t.Errorf("rejected %d: the record is not kept: %s", i, r.Body)
		}
	}
	for _, c := range got.Changes {
		if !strings.HasSuffix(c.ResourceID, "/EUDRBACKUP") || c.SubscriptionID != "7D5C2A1E-4B8F-4C3A-9E2D-1F6A8B3C5D70" {
			t.Errorf("change for %q in %q", c.ResourceID, c.SubscriptionID)
		}
	}
}
