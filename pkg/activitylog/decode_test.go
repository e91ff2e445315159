package activitylog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantID recomputes the derived event ID the way the package doc describes it.
func wantID(correlationID, operationName, resultType, resourceID, timeAsWritten string) string {
	joined := strings.Join([]string{strings.ToLower(correlationID), strings.ToLower(operationName),
		strings.ToLower(resultType), strings.ToLower(resourceID), timeAsWritten}, "\x00")
	sum := sha256.Sum256([]byte(joined))
	return "al-" + hex.EncodeToString(sum[:])[:32]
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return at.UTC()
}

const (
	s1ID   = "/subscriptions/s1/resourceGroups/MSSupportGroup/providers/microsoft.support/supporttickets/123456112305841"
	s1Op   = "microsoft.support/supporttickets/write"
	s1Corr = "aaaa6666-bb77-8888-99cc-000000dddddd"

	t1ID   = "/SUBSCRIPTIONS/2a7e2503-d7e2-405a-a84c-c333b9f7cb73/RESOURCEGROUPS/SA-HEMANT/PROVIDERS/MICROSOFT.EVENTHUB/NAMESPACES/AZURELSEVENTS/AUTHORIZATIONRULES/ROOTMANAGESHAREDACCESSKEY"
	t1Op   = "MICROSOFT.EVENTHUB/NAMESPACES/AUTHORIZATIONRULES/LISTKEYS/ACTION"
	t1GUID = "2a7e2503-d7e2-405a-a84c-c333b9f7cb73"

	eSub = "3f1c6a52-7d0e-4b8a-9c31-2b5e8f4d6a10"
)

func TestDecodeTestdata(t *testing.T) {
	s1 := guard.Change{
		ResourceID:     s1ID,
		SubscriptionID: "s1",
		ResourceType:   "microsoft.support/supporttickets",
		Operation:      s1Op, // identity.authorization.action names another operation (a doc artefact), so operationName stays
		Action:         guard.ActionWrite,
		Outcome:        guard.OutcomeSucceeded,
		Caller:         "admin@contoso.com",
		CorrelationID:  s1Corr,
		EventTime:      mustTime(t, "2019-01-21T22:14:26.9792776Z"),
		Source:         guard.SourceEventHub,
		EventID:        wantID(s1Corr, s1Op, "Success", s1ID, "2019-01-21T22:14:26.9792776Z"),
	}
	s1Start := s1
	s1Start.Outcome = guard.OutcomeStarted
	s1Start.EventTime = mustTime(t, "2019-01-21T22:14:24.1532776Z")
	s1Start.EventID = wantID(s1Corr, s1Op, "Start", s1ID, "2019-01-21T22:14:24.1532776Z")

	t1Failure := guard.Change{
		ResourceID:     t1ID,
		SubscriptionID: t1GUID,
		ResourceType:   "MICROSOFT.EVENTHUB/NAMESPACES/AUTHORIZATIONRULES",
		Operation:      "Microsoft.EventHub/namespaces/authorizationRules/listKeys/action", // the action's spelling
		Action:         guard.ActionAction,
		Outcome:        guard.OutcomeFailed,
		Caller:         "app:" + t1GUID + " (object " + t1GUID + ")",
		CorrelationID:  t1GUID,
		EventTime:      mustTime(t, "2019-10-04T10:38:37.5251981Z"),
		Source:         guard.SourceEventHub,
		EventID:        wantID(t1GUID, t1Op, "Failure", t1ID, "2019-10-04T10:38:37.5251981Z"),
	}
	t1Start := t1Failure
	t1Start.Outcome = guard.OutcomeStarted
	t1Start.EventTime = mustTime(t, "2019-10-04T10:38:37.5151977Z")
	t1Start.EventID = wantID(t1GUID, t1Op, "Start", t1ID, "2019-10-04T10:38:37.5151977Z")

	t2ID := "/subscriptions/1bccbf99-866d-44f6-970e-b25312179291/resourceGroups/rg12-neu-aro-cluster/providers/Microsoft.Network/publicIPAddresses/devtest-qvtbh-a1e410913332a4c218e70e835c5430b3"
	t2 := guard.Change{
		ResourceID:     t2ID,
		SubscriptionID: "1bccbf99-866d-44f6-970e-b25312179291",
		ResourceType:   "Microsoft.Network/publicIPAddresses",
		Operation:      "Microsoft.Network/publicIPAddresses/write",
		Action:         guard.ActionWrite,
		Outcome:        guard.OutcomeSucceeded,
		Caller:         "app:f1dd0a37-89c6-4e07-bcd1-ffd3d43d8875 (object 5b0c3a8e-2f7d-4c1a-9e6b-3d8f0a2c4e1b)",
		CorrelationID:  "0d6b2f4e-5a1c-4e7d-9b3a-8f2c6d1e0a9b",
		EventTime:      mustTime(t, "2023-05-04T10:11:12.1234567Z"),
		Source:         guard.SourceEventHub,
		EventID: wantID("0d6b2f4e-5a1c-4e7d-9b3a-8f2c6d1e0a9b", "MICROSOFT.NETWORK/PUBLICIPADDRESSES/WRITE", "Success",
			t2ID, "2023-05-04T10:11:12.1234567Z"),
		// No Resource: properties.responseBody is a masked hint, never the resource.
	}

	storageID := "/subscriptions/" + eSub + "/resourceGroups/rg-export/providers/Microsoft.Storage/storageAccounts/stexportdata"
	roleID := "/subscriptions/" + eSub + "/providers/Microsoft.Authorization/roleAssignments/b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e"
	jitID := "/subscriptions/" + eSub + "/resourceGroups/rg-export/providers/Microsoft.Security/locations/eastus/jitNetworkAccessPolicies/default"
	eFilled := []guard.Change{{
		ResourceID:     storageID,
		SubscriptionID: eSub,
		ResourceType:   "Microsoft.Storage/storageAccounts",
		Operation:      "Microsoft.Storage/storageAccounts/write",
		Action:         guard.ActionWrite,
		Outcome:        guard.OutcomeSucceeded, // resultSignature Succeeded.OK
		Caller:         "alice@contoso.com",
		CorrelationID:  "6f0e2a1c-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
		EventTime:      mustTime(t, "2025-03-10T14:02:11.4410293Z"),
		Source:         guard.SourceEventHub,
		EventID: wantID("6f0e2a1c-3b4d-4e5f-8a9b-0c1d2e3f4a5b", "MICROSOFT.STORAGE/STORAGEACCOUNTS/WRITE", "Success",
			storageID, "2025-03-10T14:02:11.4410293Z"),
	}, {
		ResourceID:     roleID,
		SubscriptionID: eSub,
		ResourceType:   "Microsoft.Authorization/roleAssignments",
		Operation:      "Microsoft.Authorization/roleAssignments/write",
		Action:         guard.ActionWrite,
		Outcome:        guard.OutcomeStarted,
		Caller:         "", // empty claims and evidence
		CorrelationID:  "acdd72a7-3385-48ef-bd42-f606fba81ae7",
		EventTime:      mustTime(t, "2025-03-10T14:05:40.0000001Z"),
		Source:         guard.SourceEventHub,
		EventID: wantID("acdd72a7-3385-48ef-bd42-f606fba81ae7", "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE", "Start",
			roleID, "2025-03-10T14:05:40.0000001Z"),
	}, {
		ResourceID:     jitID,
		SubscriptionID: eSub,
		ResourceType:   "Microsoft.Security/locations/jitNetworkAccessPolicies",
		Operation:      "Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action",
		Action:         guard.ActionAction,
		Outcome:        guard.OutcomeSucceeded, // resultSignature Succeeded.Accepted
		CorrelationID:  "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
		EventTime:      mustTime(t, "2025-03-10T14:09:03.9876543Z"),
		Source:         guard.SourceEventHub,
		EventID: wantID("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "MICROSOFT.SECURITY/LOCATIONS/JITNETWORKACCESSPOLICIES/INITIATE/ACTION", "Success",
			jitID, "2025-03-10T14:09:03.9876543Z"),
	}}

	tests := []struct {
		file         string
		wantChanges  []guard.Change
		wantRejected []string // a substring of each Rejected.Reason, in order
	}{
		{file: "s1_support_ticket_write.json", wantChanges: []guard.Change{s1}},
		{file: "s1_start_success.json", wantChanges: []guard.Change{s1Start, s1}},
		{file: "t1_start_failure.json", wantChanges: []guard.Change{t1Start, t1Failure}},
		{file: "t2_record.json", wantChanges: []guard.Change{t2}},
		{file: "e_synthesized_filled.json", wantChanges: eFilled},
		{file: "e_synthesized.json", wantRejected: []string{
			`record 0: time "<iso8601>" is not RFC 3339`,
			`record 1: time "<iso8601>" is not RFC 3339`,
			`record 2: time "<iso8601>" is not RFC 3339`,
		}},
		{file: "mixed_corrupt.json", wantChanges: []guard.Change{s1, t1Failure}, wantRejected: []string{
			"record 1: not a JSON object",
			`record 2: time "yesterday" is not RFC 3339`,
			"record 3: not a JSON object",
			"record 4: resourceId is not a string",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readTestdata(t, tt.file)
			got, err := Decode(body)
			if err != nil {
				t.Fatalf("Decode(%s) error: %v", tt.file, err)
			}
			if diff := cmp.Diff(tt.wantChanges, got.Changes); diff != "" {
				t.Errorf("Decode(%s) changes (-want +got):\n%s", tt.file, diff)
			}
			var reasons []string
			for _, r := range got.Rejected {
				reasons = append(reasons, r.Reason)
				if !json.Valid(r.Body) {
					t.Errorf("Decode(%s) rejected body %q is not the record's JSON", tt.file, r.Body)
				}
			}
			if len(reasons) != len(tt.wantRejected) {
				t.Fatalf("Decode(%s) rejected %q, want %d matching %q", tt.file, reasons, len(tt.wantRejected), tt.wantRejected)
			}
			for i, want := range tt.wantRejected {
				if !strings.Contains(reasons[i], want) {
					t.Errorf("Decode(%s) rejected[%d] = %q, want it to contain %q", tt.file, i, reasons[i], want)
				}
			}
			if got.Ignored != 0 {
				t.Errorf("Decode(%s) ignored %d, want 0", tt.file, got.Ignored)
			}
		})
	}
}

// TestDecodeStartThenSuccess checks the pairing the pipeline relies on: both records
// decode, share the correlation ID, and only the Success one counts as Succeeded.
func TestDecodeStartThenSuccess(t *testing.T) {
	got, err := Decode(readTestdata(t, "s1_start_success.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Changes) != 2 {
		t.Fatalf("Decode gave %d changes, want 2", len(got.Changes))
	}
	start, success := got.Changes[0], got.Changes[1]
	if start.Outcome != guard.OutcomeStarted || success.Outcome != guard.OutcomeSucceeded {
		t.Errorf("outcomes = %s, %s, want Started, Succeeded", start.Outcome, success.Outcome)
	}
	if start.CorrelationID != success.CorrelationID || start.OperationKey() != success.OperationKey() {
		t.Errorf("Start and Success keys differ: %q, %q", start.OperationKey(), success.OperationKey())
	}
	if start.EventID == success.EventID {
		t.Errorf("Start and Success share event ID %s, want distinct", start.EventID)
	}
}

// record is a good diagnostic-schema record; tests change one thing in it.
func baseRecord() map[string]any {
	return map[string]any{
		"time":            "2024-02-03T04:05:06.1234567Z",
		"resourceId":      "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa",
		"operationName":   "Microsoft.Storage/storageAccounts/write",
		"category":        "Administrative",
		"resultType":      "Success",
		"resultSignature": "Succeeded.OK",
		"durationMs":      0,
		"correlationId":   "c0ffee00-0000-4000-8000-000000000001",
		"identity": map[string]any{
			"authorization": map[string]any{
				"action":   "Microsoft.Storage/storageAccounts/write",
				"evidence": map[string]any{"principalId": "pid-1"},
			},
			"claims": map[string]any{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "bob@contoso.com"},
		},
		"level":    "Information",
		"location": "global",
	}
}

func envelope(t testing.TB, records ...any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"records": records})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeOne(t *testing.T, rec map[string]any) (guard.Change, []guard.Rejected) {
	t.Helper()
	got, err := Decode(envelope(t, rec))
	if err != nil {
		t.Fatalf("Decode error: %v", err)
	}
	if n := len(got.Changes) + len(got.Rejected); n != 1 {
		t.Fatalf("Decode gave %d changes and %d rejected, want one of them", len(got.Changes), len(got.Rejected))
	}
	if len(got.Changes) == 1 {
		return got.Changes[0], nil
	}
	return guard.Change{}, got.Rejected
}

func TestDecodeMissingFields(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(map[string]any)
		reason string
	}{
		{"no resourceId", func(r map[string]any) { delete(r, "resourceId") }, "missing resourceId"},
		{"blank resourceId", func(r map[string]any) { r["resourceId"] = "  " }, "missing resourceId"},
		{"null resourceId", func(r map[string]any) { r["resourceId"] = nil }, "missing resourceId"},
		{"numeric resourceId", func(r map[string]any) { r["resourceId"] = 7 }, "resourceId is not a string"},
		{"no operationName", func(r map[string]any) { delete(r, "operationName") }, "missing operationName"},
		{"empty operationName", func(r map[string]any) { r["operationName"] = "" }, "missing operationName"},
		{"operationName object without value", func(r map[string]any) { r["operationName"] = map[string]any{"localizedValue": "x"} }, "missing operationName"},
		{"operationName array", func(r map[string]any) { r["operationName"] = []any{"a"} }, "operationName is not a string"},
		{"no time", func(r map[string]any) { delete(r, "time") }, "missing time"},
		{"time not RFC 3339", func(r map[string]any) { r["time"] = "21/01/2019 22:14:26" }, `time "21/01/2019 22:14:26" is not RFC 3339`},
		{"time a number", func(r map[string]any) { r["time"] = 1548108866 }, "time is not a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := baseRecord()
			tt.edit(rec)
			_, rejected := decodeOne(t, rec)
			if len(rejected) != 1 {
				t.Fatalf("Decode accepted the record, want it rejected with %q", tt.reason)
			}
			if got := rejected[0].Reason; !strings.Contains(got, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", got, tt.reason)
			}
		})
	}
}

func TestDecodeOutcome(t *testing.T) {
	tests := []struct {
		resultType any // nil: absent
		status     any // REST status, nil: absent
		want       guard.Outcome
	}{
		{"Success", nil, guard.OutcomeSucceeded},
		{"SUCCEEDED", nil, guard.OutcomeSucceeded},
		{"Start", nil, guard.OutcomeStarted},
		{"Started", nil, guard.OutcomeStarted},
		{"Accept", nil, guard.OutcomeStarted},
		{"accepted", nil, guard.OutcomeStarted},
		{"In Progress", nil, guard.OutcomeStarted},
		{"Active", nil, guard.OutcomeStarted},
		{"Failure", nil, guard.OutcomeFailed},
		{"Failed", nil, guard.OutcomeFailed},
		{"Cancel", nil, guard.OutcomeFailed},
		{"Canceled", nil, guard.OutcomeFailed},
		{"Cancelled", nil, guard.OutcomeFailed},
		{"Resolved", nil, guard.OutcomeUnknown},
		{"", nil, guard.OutcomeUnknown},
		{nil, nil, guard.OutcomeUnknown},
		{42, nil, guard.OutcomeUnknown},
		{nil, map[string]any{"value": "Succeeded", "localizedValue": "Succeeded"}, guard.OutcomeSucceeded},
		{nil, map[string]any{"value": "Started"}, guard.OutcomeStarted},
		{nil, "Failed", guard.OutcomeFailed},
		{"Start", map[string]any{"value": "Succeeded"}, guard.OutcomeStarted}, // resultType wins
	}
	for _, tt := range tests {
		rec := baseRecord()
		delete(rec, "resultType")
		if tt.resultType != nil {
			rec["resultType"] = tt.resultType
		}
		if tt.status != nil {
			rec["status"] = tt.status
		}
		c, rejected := decodeOne(t, rec)
		if rejected != nil {
			t.Errorf("resultType %v, status %v: rejected %q", tt.resultType, tt.status, rejected[0].Reason)
			continue
		}
		if c.Outcome != tt.want {
			t.Errorf("resultType %v, status %v: Outcome = %s, want %s", tt.resultType, tt.status, c.Outcome, tt.want)
		}
	}
}

// TestDecodeSuccessSignatures: a Success record counts whatever its resultSignature.
func TestDecodeSuccessSignatures(t *testing.T) {
	for _, sig := range []any{"Succeeded.OK", "Succeeded.Accepted", "Succeeded.Created", "Succeeded.", "", nil, 200} {
		rec := baseRecord()
		rec["resultSignature"] = sig
		c, rejected := decodeOne(t, rec)
		if rejected != nil || c.Outcome != guard.OutcomeSucceeded {
			t.Errorf("resultSignature %v: Outcome = %q, rejected %v, want Succeeded", sig, c.Outcome, rejected)
		}
	}
}

// TestDecodeLenient: fields that vary between documentation and what arrives never
// cost the record.
func TestDecodeLenient(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(map[string]any)
		wantCaller string
	}{
		{"durationMs string", func(r map[string]any) { r["durationMs"] = "2826" }, "bob@contoso.com"},
		{"durationMs float", func(r map[string]any) { r["durationMs"] = 11.5 }, "bob@contoso.com"},
		{"durationMs null", func(r map[string]any) { r["durationMs"] = nil }, "bob@contoso.com"},
		{"durationMs absent", func(r map[string]any) { delete(r, "durationMs") }, "bob@contoso.com"},
		{"category Write", func(r map[string]any) { r["category"] = "Write" }, "bob@contoso.com"},
		{"category object", func(r map[string]any) { r["category"] = map[string]any{"value": "Administrative"} }, "bob@contoso.com"},
		{"level number", func(r map[string]any) { r["level"] = 4 }, "bob@contoso.com"},
		{"unknown fields", func(r map[string]any) { r["somethingNew"] = []any{1, 2}; r["properties"] = "odd" }, "bob@contoso.com"},
		{"properties absent", func(r map[string]any) { delete(r, "properties") }, "bob@contoso.com"},
		{"identity absent", func(r map[string]any) { delete(r, "identity") }, ""},
		{"identity a string", func(r map[string]any) { r["identity"] = "n/a" }, ""},
		{"claims an array, evidence still read", func(r map[string]any) {
			r["identity"].(map[string]any)["claims"] = []any{"x"}
		}, "pid-1"},
		{"no claims: evidence principalId", func(r map[string]any) {
			delete(r["identity"].(map[string]any), "claims")
		}, "pid-1"},
		{"non-string claims", func(r map[string]any) {
			r["identity"].(map[string]any)["claims"] = map[string]any{
				"appid": 12345, "http://schemas.microsoft.com/identity/claims/objectidentifier": true, "iat": 1.5e9, "groups": []any{"a"},
			}
		}, "app:12345 (object true)"},
		{"name claim when no upn", func(r map[string]any) {
			r["identity"].(map[string]any)["claims"] = map[string]any{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name": "carol@contoso.com"}
		}, "carol@contoso.com"},
		{"managed identity: appid only", func(r map[string]any) {
			r["identity"].(map[string]any)["claims"] = map[string]any{"appid": "a-1"}
		}, "app:a-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := baseRecord()
			tt.edit(rec)
			c, rejected := decodeOne(t, rec)
			if rejected != nil {
				t.Fatalf("Decode rejected the record: %q", rejected[0].Reason)
			}
			if c.Caller != tt.wantCaller {
				t.Errorf("Caller = %q, want %q", c.Caller, tt.wantCaller)
			}
			if c.Outcome != guard.OutcomeSucceeded || c.Operation != "Microsoft.Storage/storageAccounts/write" {
				t.Errorf("Outcome, Operation = %s, %s, want Succeeded, Microsoft.Storage/storageAccounts/write", c.Outcome, c.Operation)
			}
		})
	}
}

func TestDecodeOperation(t *testing.T) {
	tests := []struct {
		name          string
		operationName any
		action        any
		want          string
		wantAction    guard.Action
	}{
		{"action spelling wins when equal", "MICROSOFT.STORAGE/STORAGEACCOUNTS/DELETE", "Microsoft.Storage/storageAccounts/delete",
			"Microsoft.Storage/storageAccounts/delete", guard.ActionDelete},
		{"different action ignored", "microsoft.support/supporttickets/write", "Microsoft.Storage/storageAccounts/listAccountSas/action",
			"microsoft.support/supporttickets/write", guard.ActionWrite},
		{"no action", "Microsoft.Compute/disks/write", nil, "Microsoft.Compute/disks/write", guard.ActionWrite},
		{"REST object form", map[string]any{"value": "Microsoft.Network/networkSecurityGroups/write", "localizedValue": "x"}, nil,
			"Microsoft.Network/networkSecurityGroups/write", guard.ActionWrite},
		{"trimmed", " Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action ", nil,
			"Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action", guard.ActionAction},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := baseRecord()
			rec["operationName"] = tt.operationName
			auth := rec["identity"].(map[string]any)["authorization"].(map[string]any)
			delete(auth, "action")
			if tt.action != nil {
				auth["action"] = tt.action
			}
			c, rejected := decodeOne(t, rec)
			if rejected != nil {
				t.Fatalf("Decode rejected the record: %q", rejected[0].Reason)
			}
			if c.Operation != tt.want || c.Action != tt.wantAction {
				t.Errorf("Operation, Action = %q, %s, want %q, %s", c.Operation, c.Action, tt.want, tt.wantAction)
			}
		})
	}
}

// TestDecodeRESTSchemaEvent: the REST/portal shape is not what Event Hubs carries. As a
// whole message it is no envelope; wrapped in one, its object-form operationName and
// status.value are read, but it has no "time" and is rejected for that.
func TestDecodeRESTSchemaEvent(t *testing.T) {
	raw := readTestdata(t, "s1_rest_schema_event.json")
	if _, err := Decode(raw); err == nil || !strings.Contains(err.Error(), "no records array") {
		t.Errorf("Decode(REST event) error = %v, want no records array", err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	_, rejected := decodeOne(t, ev)
	if len(rejected) != 1 || !strings.Contains(rejected[0].Reason, "missing time") {
		t.Fatalf("Decode(wrapped REST event) rejected %v, want missing time", rejected)
	}
	ev["time"] = ev["eventTimestamp"]
	c, rejected := decodeOne(t, ev)
	if rejected != nil {
		t.Fatalf("Decode(REST event with time) rejected %q", rejected[0].Reason)
	}
	if c.Operation != "Microsoft.Network/networkSecurityGroups/write" || c.Outcome != guard.OutcomeSucceeded {
		t.Errorf("Operation, Outcome = %q, %s, want Microsoft.Network/networkSecurityGroups/write, Succeeded", c.Operation, c.Outcome)
	}
}

func TestDecodeEventID(t *testing.T) {
	rec := baseRecord()
	a, _ := decodeOne(t, rec)

	// The same record written differently (key order, spacing, casing of the ID) is the same event.
	again := []byte(`{"records":[ {"level":"Information","identity":{},"correlationId":"C0FFEE00-0000-4000-8000-000000000001",
		"resultType":"SUCCESS","operationName":"microsoft.storage/storageaccounts/write",
		"resourceId":"/SUBSCRIPTIONS/0000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/SA",
		"time":"2024-02-03T04:05:06.1234567Z"} ]}`)
	got, err := Decode(again)
	if err != nil || len(got.Changes) != 1 {
		t.Fatalf("Decode = %+v, %v, want one change", got, err)
	}
	if b := got.Changes[0]; b.EventID != a.EventID {
		t.Errorf("EventID of the same record = %s, want %s", b.EventID, a.EventID)
	}
	if !strings.HasPrefix(a.EventID, "al-") || len(a.EventID) != 3+32 {
		t.Errorf("EventID = %q, want al- and 32 hex digits", a.EventID)
	}

	for field, value := range map[string]any{
		"resultType":    "Start",
		"time":          "2024-02-03T04:05:06.1234568Z",
		"correlationId": "c0ffee00-0000-4000-8000-000000000002",
		"resourceId":    "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sb",
		"operationName": "Microsoft.Storage/storageAccounts/delete",
	} {
		other := baseRecord()
		other[field] = value
		if b, _ := decodeOne(t, other); b.EventID == a.EventID {
			t.Errorf("changing %s kept EventID %s, want a different one", field, a.EventID)
		}
	}
	// The time as written counts: the same instant written with another offset is another record.
	other := baseRecord()
	other["time"] = "2024-02-03T05:05:06.1234567+01:00"
	b, _ := decodeOne(t, other)
	if b.EventID == a.EventID || !b.EventTime.Equal(a.EventTime) || b.EventTime.Location() != time.UTC {
		t.Errorf("offset time: EventID %s (first %s), EventTime %v, want a new ID and the same UTC instant", b.EventID, a.EventID, b.EventTime)
	}
}

func TestDecodeWholeMessageErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{"empty", "", "not a JSON object"},
		{"spaces", "  \n", "not a JSON object"},
		{"null", "null", "not a JSON object"},
		{"array", `[{"records":[]}]`, "not a JSON object"},
		{"string", `"records"`, "not a JSON object"},
		{"not JSON", `{"records": [`, "activity log message"},
		{"trailing junk", `{"records": []} x`, "activity log message"},
		{"no records", `{"value": []}`, "no records array"},
		{"records null", `{"records": null}`, "no records array"},
		{"records object", `{"records": {"time": "x"}}`, "no records array"},
		{"records string", `{"records": "[]"}`, "no records array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode(%q) error = %v, want one containing %q", tt.body, err, tt.want)
			}
			if len(got.Changes)+len(got.Rejected)+got.Ignored != 0 {
				t.Errorf("Decode(%q) = %+v with an error, want nothing", tt.body, got)
			}
		})
	}

	big := append([]byte(`{"records":[],"pad":"`), bytes.Repeat([]byte("x"), MaxBodyBytes)...)
	big = append(big, `"}`...)
	if _, err := Decode(big); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("Decode(%d bytes) error = %v, want too large", len(big), err)
	}
	if got, err := Decode([]byte(`{"records":[]}`)); err != nil || len(got.Changes)+len(got.Rejected) != 0 {
		t.Errorf("Decode(empty records) = %+v, %v, want nothing and no error", got, err)
	}
}

func TestDecodeRejectedBodyTruncated(t *testing.T) {
	rec := baseRecord()
	rec["time"] = "not a time"
	rec["padding"] = strings.Repeat("y", 100<<10)
	good := baseRecord()
	got, err := Decode(envelope(t, rec, good))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Rejected) != 1 || len(got.Changes) != 1 {
		t.Fatalf("Decode gave %d changes, %d rejected, want 1 and 1", len(got.Changes), len(got.Rejected))
	}
	if n := len(got.Rejected[0].Body); n != 64<<10 {
		t.Errorf("len(Rejected.Body) = %d, want %d", n, 64<<10)
	}
}
