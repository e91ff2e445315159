package guard

import (
	"encoding/json"
	"testing"
	"time"
)

// The structs the pipeline audits changes and verdicts with encode to the same
// bytes as the maps they replaced, which the hashes of existing trails cover.
func TestAuditDataEncodesAsTheMapsDid(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC)
	for _, tc := range []struct {
		name     string
		got, was any
	}{
		{"change", changeAudit{Operation: "Microsoft.Storage/storageAccounts/write", Source: SourceEventHub, EventID: "al-1",
			CorrelationID: "c<1>&", Caller: "ana@contoso.com", EventTime: at},
			map[string]any{"operation": "Microsoft.Storage/storageAccounts/write", "source": SourceEventHub, "eventId": "al-1",
				"correlationId": "c<1>&", "caller": "ana@contoso.com", "eventTime": at}},
		{"change, empty", changeAudit{}, map[string]any{"operation": "", "source": Source(""), "eventId": "",
			"correlationId": "", "caller": "", "eventTime": time.Time{}}},
		{"verdict", verdictAudit{Rule: "residency.location", Violation: true, GrantID: "g", Message: "in \"westus\"", EventID: "e"},
			map[string]any{"rule": "residency.location", "violation": true, "grantId": "g", "message": "in \"westus\"", "eventId": "e"}},
		{"verdict, empty", verdictAudit{}, map[string]any{"rule": "", "violation": false, "grantId": "", "message": "", "eventId": ""}},
	} {
		got, err := json.Marshal(tc.got)
		if err != nil {
			t.Fatal(err)
		}
		was, err := json.Marshal(tc.was)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(was) {
			t.Errorf("%s: struct encodes to\n%s\nthe map to\n%s", tc.name, got, was)
		}
	}
}
