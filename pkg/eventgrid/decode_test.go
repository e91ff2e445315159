package eventgrid

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

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

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return at.UTC()
}

// resourceInfo returns data.resourceInfo of a single-event file, as written.
func resourceInfo(t testing.TB, name string) json.RawMessage {
	t.Helper()
	var ev struct {
		Data struct {
			ResourceInfo json.RawMessage `json:"resourceInfo"`
		} `json:"data"`
	}
	if err := json.Unmarshal(readTestdata(t, name), &ev); err != nil {
		t.Fatal(err)
	}
	return ev.Data.ResourceInfo
}

const (
	storageRG    = "/subscriptions/{subscription-id}/resourcegroups/{resource-group}/providers/Microsoft.Storage/storageAccounts/{storage-name}"
	storageDel   = "/subscriptions/{subscription-id}/resourceGroups/{resource-group}/providers/Microsoft.Storage/storageAccounts/{storage-name}"
	eventHubRule = "/subscriptions/{subscription-id}/resourceGroups/{resource-group}/providers/Microsoft.EventHub/namespaces/{namespace}/AuthorizationRules/RootManageSharedAccessKey"
	rnStorage    = "/subscriptions/{subcription-id} /resourceGroups/{rg-name}/providers/Microsoft.Storage/storageAccounts/{storageAccount-name}"
	rnDeleted    = "/subscriptions/{subscription-id}/resourceGroups/{rg-name}/providers/Microsoft.Storage/storageAccounts/{storageAccount-name}"
)

func TestDecodeTestdata(t *testing.T) {
	writeSuccess := guard.Change{
		ResourceID:     storageRG,
		SubscriptionID: "{subscription-id}",
		ResourceType:   "Microsoft.Storage/storageAccounts",
		Operation:      "Microsoft.Storage/storageAccounts/write",
		Action:         guard.ActionWrite,
		Outcome:        guard.OutcomeSucceeded,
		Caller:         "{user-name}", // the upn claim
		CorrelationID:  "{ID}",
		EventTime:      mustTime(t, "2018-07-19T18:38:04.6117357Z"),
		Source:         guard.SourceEventGrid,
		EventID:        "4db48cba-50a2-455a-93b4-de41a3b5b7f6",
	}
	writeFailure := writeSuccess
	writeFailure.Outcome = guard.OutcomeFailed // from the type; data.status says Succeeded

	deleteSuccess := guard.Change{
		ResourceID:     storageDel,
		SubscriptionID: "{subscription-id}",
		ResourceType:   "Microsoft.Storage/storageAccounts",
		Operation:      "Microsoft.Storage/storageAccounts/delete",
		Action:         guard.ActionDelete,
		Outcome:        guard.OutcomeSucceeded,
		Caller:         "", // claims shortened in the source, evidence has only a role
		CorrelationID:  "{ID}",
		EventTime:      mustTime(t, "2018-07-19T19:24:12.763881Z"),
		Source:         guard.SourceEventGrid,
		EventID:        "19a69642-1aad-4a96-a5ab-8d05494513ce",
	}
	actionSuccess := guard.Change{
		ResourceID:     eventHubRule,
		SubscriptionID: "{subscription-id}",
		ResourceType:   "Microsoft.EventHub/namespaces/AuthorizationRules",
		Operation:      "Microsoft.EventHub/namespaces/AuthorizationRules/listKeys/action",
		Action:         guard.ActionAction,
		Outcome:        guard.OutcomeSucceeded,
		Caller:         "app:{ID} (object {ID})", // service principal: appid and object ID
		CorrelationID:  "{ID}",
		EventTime:      mustTime(t, "2018-10-08T22:46:22.6022559Z"),
		Source:         guard.SourceEventGrid,
		EventID:        "{ID}",
	}
	rnAt := mustTime(t, "2023-07-28T20:13:10.8418063Z")
	created := guard.Change{
		ResourceID:     rnStorage, // verbatim, with the example's stray space
		SubscriptionID: "{subcription-id}",
		ResourceType:   "Microsoft.Storage/storageAccounts",
		Operation:      "Microsoft.Storage/storageAccounts/write",
		Action:         guard.ActionWrite,
		Outcome:        guard.OutcomeSucceeded,
		EventTime:      rnAt,
		Source:         guard.SourceEventGrid,
		EventID:        "4eef929a-a65c-47dd-93e2-46b8c17c6c17",
		Resource: &guard.Resource{
			ID:         rnStorage,
			Type:       "Microsoft.Storage/storageAccounts",
			Location:   "eastus",
			ObservedAt: rnAt,
			Body:       resourceInfo(t, "rn_created_or_updated.json"),
		},
	}
	delAt := mustTime(t, "2023-07-28T20:11:36.6347858Z")
	deleted := guard.Change{
		ResourceID:     rnDeleted,
		SubscriptionID: "{subscription-id}",
		ResourceType:   "Microsoft.Storage/storageAccounts",
		Operation:      "Microsoft.Storage/storageAccounts/delete",
		Action:         guard.ActionDelete,
		Outcome:        guard.OutcomeSucceeded,
		EventTime:      delAt,
		Source:         guard.SourceEventGrid,
		EventID:        "d4611260-d179-4f86-b196-3a9d4128be2d",
		Resource:       &guard.Resource{ID: rnDeleted, Type: "Microsoft.Storage/storageAccounts", Deleted: true, ObservedAt: delAt},
	}

	kvVault := "/subscriptions/{subscription-id}/resourceGroups/sample-rg/providers/Microsoft.KeyVault/vaults/sample-kv"
	keyChangeOf := func(file, name, typ string, action guard.Action, at, eventID string) guard.Change {
		c := guard.Change{
			ResourceID:     kvVault + "/keys/" + name,
			SubscriptionID: "{subscription-id}",
			ResourceType:   "Microsoft.KeyVault/vaults/keys",
			Operation:      typ,
			Action:         action,
			Outcome:        guard.OutcomeSucceeded,
			EventTime:      mustTime(t, at),
			Source:         guard.SourceEventGrid,
			EventID:        eventID,
		}
		c.Resource = keyResource(t, file)
		return c
	}
	newVersion := keyChangeOf("kv_key_new_version_eg.json", "newkey", "Microsoft.KeyVault.KeyNewVersionCreated", guard.ActionWrite,
		"2019-07-25T01:08:33.1036736Z", "5b1c7a4e-2f3d-4c8b-9e6a-0d1f2e3a4b5c")
	nearExpiry := keyChangeOf("kv_key_near_expiry_eg.json", "wrappingKey", "Microsoft.KeyVault.KeyNearExpiry", guard.ActionAction,
		"2025-10-22T00:00:12.5512340Z", "8d3e1f20-6a7b-4c5d-8e9f-a0b1c2d3e4f5")
	expired := keyChangeOf("kv_key_expired_ce.json", "wrappingKey", "Microsoft.KeyVault.KeyExpired", guard.ActionAction,
		"2025-11-21T00:00:41.007Z", "c4f2a9d1-7e3b-4a6c-b5d8-9e0f1a2b3c4d")

	tests := []struct {
		file        string
		wantChanges []guard.Change
		wantIgnored int
	}{
		{file: "kv_key_new_version_eg.json", wantChanges: []guard.Change{newVersion}},
		{file: "kv_key_near_expiry_eg.json", wantChanges: []guard.Change{nearExpiry}},
		{file: "kv_key_expired_ce.json", wantChanges: []guard.Change{expired}},
		{file: "eg_resource_write_success.json", wantChanges: []guard.Change{writeSuccess}},
		{file: "eg_resource_delete_success.json", wantChanges: []guard.Change{deleteSuccess}},
		{file: "ce_resource_write_success.json", wantChanges: []guard.Change{writeSuccess}},
		{file: "ce_resource_delete_success_specVersion.json", wantChanges: []guard.Change{deleteSuccess}},
		{file: "ce_resource_write_failure_specVersion.json", wantChanges: []guard.Change{writeFailure}},
		{file: "ce_resource_action_success.json", wantChanges: []guard.Change{actionSuccess}},
		{file: "rn_created_or_updated.json", wantChanges: []guard.Change{created}},
		{file: "rn_deleted.json", wantChanges: []guard.Change{deleted}},
		{file: "eg_subscription_validation.json", wantIgnored: 1},
		{file: "kv_secret_new_version_eg.json", wantIgnored: 1},
		{file: "kv_secret_new_version_ce.json", wantIgnored: 1},
		{file: "eg_array_mixed.json", wantChanges: []guard.Change{writeSuccess, deleteSuccess}, wantIgnored: 2},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := Decode(readTestdata(t, tt.file))
			if err != nil {
				t.Fatalf("Decode(%s) error: %v", tt.file, err)
			}
			if diff := cmp.Diff(tt.wantChanges, got.Changes); diff != "" {
				t.Errorf("Decode(%s) changes (-want +got):\n%s", tt.file, diff)
			}
			for _, r := range got.Rejected {
				t.Errorf("Decode(%s) rejected %q, want nothing rejected", tt.file, r.Reason)
			}
			if got.Ignored != tt.wantIgnored {
				t.Errorf("Decode(%s) ignored %d, want %d", tt.file, got.Ignored, tt.wantIgnored)
			}
		})
	}
}

// TestDecodeResourceNotificationBody: the resource an event carries is kept as it
// was written, 1/0 booleans included, and never read from data.status or the like.
func TestDecodeResourceNotificationBody(t *testing.T) {
	got, err := Decode(readTestdata(t, "rn_created_or_updated.json"))
	if err != nil || len(got.Changes) != 1 || got.Changes[0].Resource == nil {
		t.Fatalf("Decode = %+v, %v, want one change with a resource", got, err)
	}
	r := got.Changes[0].Resource
	if r.Location != "eastus" {
		t.Errorf("Resource.Location = %q, want eastus", r.Location)
	}
	for _, want := range []string{`"allowBlobPublicAccess": 1`, `"requireInfrastructureEncryption": 0`, `"minimumTlsVersion": "TLS1_2"`} {
		if !bytes.Contains(r.Body, []byte(want)) {
			t.Errorf("Resource.Body lacks %s as written", want)
		}
	}
}

// ceBase is a valid CloudEvents Microsoft.Resources event; tests change one thing.
func ceBase() map[string]any {
	return map[string]any{
		"specversion": "1.0",
		"id":          "ev-1",
		"source":      "/subscriptions/sub-1/resourceGroups/rg",
		"subject":     "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.Sql/servers/sql1",
		"type":        "Microsoft.Resources.ResourceWriteSuccess",
		"time":        "2024-05-06T07:08:09.1234567Z",
		"data": map[string]any{
			"authorization": map[string]any{
				"action":   "Microsoft.Sql/servers/write",
				"evidence": map[string]any{"principalId": "pid-1", "principalType": "ServicePrincipal"},
			},
			"claims":         map[string]any{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "dana@contoso.com"},
			"correlationId":  "corr-1",
			"resourceUri":    "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.Sql/servers/sql1",
			"operationName":  "Microsoft.Sql/servers/write",
			"status":         "Succeeded",
			"subscriptionId": "sub-1",
		},
	}
}

// egBase is the same event in the Event Grid schema.
func egBase() map[string]any {
	ce := ceBase()
	return map[string]any{
		"id":              ce["id"],
		"topic":           ce["source"],
		"subject":         ce["subject"],
		"eventType":       ce["type"],
		"eventTime":       ce["time"],
		"data":            ce["data"],
		"dataVersion":     "2",
		"metadataVersion": "1",
	}
}

func data(ev map[string]any) map[string]any { return ev["data"].(map[string]any) }

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeOne decodes a delivery of one event and says what became of it. An event
// that is no object goes in an array, since a delivery must be an object or an array.
func decodeOne(t *testing.T, ev any) (c guard.Change, rejected string, ignored bool) {
	t.Helper()
	if _, ok := ev.(map[string]any); !ok {
		ev = []any{ev}
	}
	got, err := Decode(marshal(t, ev))
	if err != nil {
		t.Fatalf("Decode error: %v", err)
	}
	switch {
	case len(got.Changes) == 1 && len(got.Rejected) == 0 && got.Ignored == 0:
		return got.Changes[0], "", false
	case len(got.Changes) == 0 && len(got.Rejected) == 1 && got.Ignored == 0:
		return c, got.Rejected[0].Reason, false
	case len(got.Changes) == 0 && len(got.Rejected) == 0 && got.Ignored == 1:
		return c, "", true
	}
	t.Fatalf("Decode = %+v, want exactly one change, rejection or ignored event", got)
	return c, "", false
}

func TestDecodeEvent(t *testing.T) {
	sql := "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.Sql/servers/sql1"
	base := guard.Change{
		ResourceID:     sql,
		SubscriptionID: "sub-1",
		ResourceType:   "Microsoft.Sql/servers",
		Operation:      "Microsoft.Sql/servers/write",
		Action:         guard.ActionWrite,
		Outcome:        guard.OutcomeSucceeded,
		Caller:         "dana@contoso.com",
		CorrelationID:  "corr-1",
		EventTime:      mustTime(t, "2024-05-06T07:08:09.1234567Z"),
		Source:         guard.SourceEventGrid,
		EventID:        "ev-1",
	}
	with := func(edit func(*guard.Change)) guard.Change {
		c := base
		edit(&c)
		return c
	}
	tests := []struct {
		name string
		edit func(ce, eg map[string]any) // applied to both schemas
		want guard.Change
	}{
		{"as is", func(ce, eg map[string]any) {}, base},
		{"cancel is failed", func(ce, eg map[string]any) {
			ce["type"], eg["eventType"] = "Microsoft.Resources.ResourceWriteCancel", "Microsoft.Resources.ResourceWriteCancel"
		}, with(func(c *guard.Change) { c.Outcome = guard.OutcomeFailed })},
		{"delete failure", func(ce, eg map[string]any) {
			ce["type"], eg["eventType"] = "Microsoft.Resources.ResourceDeleteFailure", "Microsoft.Resources.ResourceDeleteFailure"
			data(ce)["operationName"] = "Microsoft.Sql/servers/delete"
		}, with(func(c *guard.Change) {
			c.Outcome, c.Action, c.Operation = guard.OutcomeFailed, guard.ActionDelete, "Microsoft.Sql/servers/delete"
		})},
		{"type in other casing", func(ce, eg map[string]any) {
			ce["type"], eg["eventType"] = "microsoft.resources.resourcewritesuccess", "MICROSOFT.RESOURCES.RESOURCEWRITESUCCESS"
		}, base},
		{"no resourceUri: subject", func(ce, eg map[string]any) { delete(data(ce), "resourceUri") }, base},
		{"no subscriptionId: from the resource ID", func(ce, eg map[string]any) { delete(data(ce), "subscriptionId") }, base},
		{"upper-case operationName: the action's spelling", func(ce, eg map[string]any) {
			data(ce)["operationName"] = "MICROSOFT.SQL/SERVERS/WRITE"
		}, base},
		{"no operationName: authorization.action", func(ce, eg map[string]any) { delete(data(ce), "operationName") }, base},
		{"no operationName nor action: from the type", func(ce, eg map[string]any) {
			delete(data(ce), "operationName")
			delete(data(ce), "authorization")
		}, with(func(c *guard.Change) { c.Caller = "dana@contoso.com" })},
		{"no claims: evidence principalId", func(ce, eg map[string]any) { delete(data(ce), "claims") },
			with(func(c *guard.Change) { c.Caller = "pid-1" })},
		{"managed identity claims", func(ce, eg map[string]any) {
			data(ce)["claims"] = map[string]any{"appid": "app-9", "http://schemas.microsoft.com/identity/claims/objectidentifier": "oid-9", "iat": 1715000000}
		}, with(func(c *guard.Change) { c.Caller = "app:app-9 (object oid-9)" })},
		{"claims not an object", func(ce, eg map[string]any) { data(ce)["claims"] = "n/a" },
			with(func(c *guard.Change) { c.Caller = "pid-1" })},
		{"status ignored", func(ce, eg map[string]any) { data(ce)["status"] = "Failed" }, base},
		{"time with offset", func(ce, eg map[string]any) {
			ce["time"], eg["eventTime"] = "2024-05-06T09:08:09.1234567+02:00", "2024-05-06T09:08:09.1234567+02:00"
		}, base},
		{"null data: subject and type", func(ce, eg map[string]any) { ce["data"], eg["data"] = nil, nil },
			with(func(c *guard.Change) { c.Caller, c.CorrelationID = "", "" })},
	}
	for _, tt := range tests {
		for _, schema := range []string{"cloudevents", "eventgrid"} {
			t.Run(tt.name+"/"+schema, func(t *testing.T) {
				ce, eg := ceBase(), egBase()
				tt.edit(ce, eg)
				ev := ce
				if schema == "eventgrid" {
					eg["data"] = ce["data"]
					ev = eg
				}
				got, rejected, ignored := decodeOne(t, ev)
				if rejected != "" || ignored {
					t.Fatalf("Decode rejected (%q) or ignored (%v) the event, want a change", rejected, ignored)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("Decode change (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestDecodeEventRejected(t *testing.T) {
	tests := []struct {
		name   string
		ev     func() any
		reason string
	}{
		{"not an object", func() any { return "event" }, "not a JSON object"},
		{"null", func() any { return nil }, "not a JSON object"},
		{"neither schema", func() any { return map[string]any{"id": "x", "type": "t"} }, "neither Event Grid schema"},
		{"eventgrid: no id", func() any { eg := egBase(); delete(eg, "id"); return eg }, "missing id"},
		{"eventgrid: numeric id", func() any { eg := egBase(); eg["id"] = 5; return eg }, "id is not a string"},
		{"eventgrid: empty eventType", func() any { eg := egBase(); eg["eventType"] = ""; return eg }, "missing eventType"},
		{"eventgrid: no time", func() any { eg := egBase(); delete(eg, "eventTime"); return eg }, "missing time"},
		{"eventgrid: bad time", func() any { eg := egBase(); eg["eventTime"] = "07/19/2018"; return eg }, `time "07/19/2018" is not RFC 3339`},
		{"eventgrid: no resource", func() any {
			eg := egBase()
			delete(eg, "subject")
			delete(data(eg), "resourceUri")
			return eg
		}, "no resource ID"},
		{"eventgrid: data a string", func() any { eg := egBase(); eg["data"] = "x"; return eg }, "data is not a JSON object"},
		{"eventgrid: no operation derivable", func() any {
			eg := egBase()
			eg["subject"] = "/subscriptions/sub-1/resourceGroups/rg"
			eg["data"] = map[string]any{}
			return eg
		}, "no operation"},
		{"cloudevents: no id", func() any { ce := ceBase(); delete(ce, "id"); return ce }, "id: MUST be a non-empty string"},
		{"cloudevents: no source", func() any { ce := ceBase(); delete(ce, "source"); return ce }, "source: REQUIRED"},
		{"cloudevents: several missing, sorted", func() any { return map[string]any{"specversion": "1.0"} },
			"invalid cloudevent: id: MUST be a non-empty string; source: REQUIRED; type: MUST be a non-empty string"},
		{"cloudevents: no time", func() any { ce := ceBase(); delete(ce, "time"); return ce }, "missing time"},
		{"cloudevents: bad time", func() any { ce := ceBase(); ce["time"] = "yesterday"; return ce }, "cloudevent:"},
		{"cloudevents: 0.3", func() any { ce := ceBase(); ce["specversion"] = "0.3"; return ce }, `specversion "0.3", want 1.0`},
		{"cloudevents: unknown specversion", func() any { ce := ceBase(); ce["specversion"] = "2.0"; return ce }, "unknown value: 2.0"},
		{"cloudevents: specversion twice", func() any { ce := ceBase(); ce["specVersion"] = "1.0"; return ce }, "specversion given 2 times"},
		{"cloudevents: numeric specversion", func() any { ce := ceBase(); ce["specversion"] = 1.0; return ce }, "cloudevent:"},
		{"cloudevents: data_base64 not a string", func() any {
			ce := ceBase()
			delete(ce, "data")
			ce["data_base64"] = 1
			return ce
		}, "data_base64 is not a string"},
		{"cloudevents: text data", func() any {
			ce := ceBase()
			ce["datacontenttype"] = "text/plain"
			ce["data"] = "resource written"
			return ce
		}, "data is not a JSON object"},
		{"notification: no resourceInfo", func() any {
			ce := ceBase()
			ce["type"] = "Microsoft.ResourceNotifications.Resources.CreatedOrUpdated"
			ce["data"] = map[string]any{"operationalInfo": map[string]any{}}
			return ce
		}, "data.resourceInfo is missing or not an object"},
		{"notification: numeric id", func() any {
			ce := ceBase()
			ce["type"] = "Microsoft.ResourceNotifications.Resources.CreatedOrUpdated"
			ce["data"] = map[string]any{"resourceInfo": map[string]any{"id": 7, "type": "Microsoft.Storage/storageAccounts"}}
			return ce
		}, "data.resourceInfo:"},
		{"notification: no ID at all", func() any {
			ce := ceBase()
			delete(ce, "subject")
			ce["type"] = "Microsoft.ResourceNotifications.Resources.Deleted"
			ce["data"] = map[string]any{"resourceInfo": map[string]any{"type": "Microsoft.Storage/storageAccounts"}}
			return ce
		}, "no resource ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rejected, ignored := decodeOne(t, tt.ev())
			if ignored || !strings.Contains(rejected, tt.reason) {
				t.Errorf("Decode rejected %q (ignored %v), want a rejection containing %q", rejected, ignored, tt.reason)
			}
		})
	}
}

func TestDecodeIgnored(t *testing.T) {
	for _, typ := range []string{
		"Microsoft.EventGrid.SubscriptionValidationEvent",
		"Microsoft.KeyVault.SecretNearExpiry", // secrets and certificates protect no CMK
		"Microsoft.KeyVault.CertificateExpired",
		"Microsoft.KeyVault.VaultAccessPolicyChanged",
		"Microsoft.KeyVault.KeyRotated", // not a documented type
		"Microsoft.Storage.BlobCreated",
		"Microsoft.Resources.ResourceMoveSuccess", // not one of the nine
		"Microsoft.Resources.ResourceWrite",
		"Microsoft.ResourceNotifications.HealthResources.AvailabilityStatusChanged",
		"Microsoft.ResourceNotifications.Resources.Annotated",
	} {
		for _, schema := range []string{"cloudevents", "eventgrid"} {
			ce, eg := ceBase(), egBase()
			ce["type"], eg["eventType"] = typ, typ
			ce["data"], eg["data"] = "whatever this type carries", 42
			ev := ce
			if schema == "eventgrid" {
				ev = eg
			}
			if _, rejected, ignored := decodeOne(t, ev); !ignored {
				t.Errorf("%s %s: rejected %q, want it ignored", schema, typ, rejected)
			}
		}
	}
}

// TestDecodeBadAmongGood: a bad event costs only itself.
func TestDecodeBadAmongGood(t *testing.T) {
	bad := ceBase()
	delete(bad, "time")
	body := []byte("[" + string(readTestdata(t, "ce_resource_write_success.json")) + `, 17, ` +
		string(marshal(t, bad)) + ", " + string(readTestdata(t, "rn_created_or_updated.json")) + ", " +
		`{"id":"v","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{}}]`)
	got, err := Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, r := range got.Rejected {
		reasons = append(reasons, r.Reason)
	}
	want := []string{
		"event grid event 1: not a JSON object",
		"event grid event 2: Microsoft.Resources.ResourceWriteSuccess ev-1: missing time",
	}
	if diff := cmp.Diff(want, reasons); diff != "" {
		t.Errorf("rejected reasons (-want +got):\n%s", diff)
	}
	if len(got.Changes) != 2 || got.Ignored != 1 {
		t.Errorf("Decode gave %d changes and %d ignored, want 2 and 1", len(got.Changes), got.Ignored)
	}
	if string(got.Rejected[0].Body) != "17" {
		t.Errorf("Rejected[0].Body = %q, want the event as written", got.Rejected[0].Body)
	}
}

func TestDecodeDataBase64(t *testing.T) {
	ce := ceBase()
	payload := marshal(t, ce["data"])
	delete(ce, "data")
	ce["data_base64"] = payload // encoding/json writes []byte as base64
	got, rejected, _ := decodeOne(t, ce)
	if rejected != "" {
		t.Fatalf("Decode rejected %q", rejected)
	}
	if got.Caller != "dana@contoso.com" || got.CorrelationID != "corr-1" {
		t.Errorf("Caller, CorrelationID = %q, %q, want the data's", got.Caller, got.CorrelationID)
	}
}

func TestDecodeWholeDeliveryErrors(t *testing.T) {
	for _, body := range []string{"", "  ", "null", "42", `"[]"`, "true", "[", "{", `[{"id":1},`, `{"id":"x"} {"id":"y"}`, `[] []`} {
		got, err := Decode([]byte(body))
		if err == nil {
			t.Errorf("Decode(%q) = %+v, want an error", body, got)
		}
		if len(got.Changes)+len(got.Rejected)+got.Ignored != 0 {
			t.Errorf("Decode(%q) = %+v with an error, want nothing", body, got)
		}
	}
	big := append([]byte(`[{"pad":"`), bytes.Repeat([]byte("x"), MaxBodyBytes)...)
	big = append(big, `"}]`...)
	if _, err := Decode(big); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("Decode(%d bytes) error = %v, want too large", len(big), err)
	}
	got, err := Decode([]byte(" [ ] "))
	if err != nil || !cmp.Equal(got, guard.Decoded{}, cmpopts.EquateEmpty()) {
		t.Errorf("Decode(empty array) = %+v, %v, want nothing and no error", got, err)
	}
}

func TestDecodeRejectedBodyTruncated(t *testing.T) {
	ce := ceBase()
	delete(ce, "time")
	ce["padding"] = strings.Repeat("z", 100<<10)
	got, err := Decode(marshal(t, ce))
	if err != nil || len(got.Rejected) != 1 {
		t.Fatalf("Decode = %+v, %v, want one rejection", got, err)
	}
	if n := len(got.Rejected[0].Body); n != 64<<10 {
		t.Errorf("len(Rejected.Body) = %d, want %d", n, 64<<10)
	}
}

// TestReadCloudEventRecovers: the SDK slices data_base64 as a quoted string without
// checking (a number there panics it). Decode checks first; readCloudEvent also
// turns any SDK panic into an error, so a Decoder never panics.
func TestReadCloudEventRecovers(t *testing.T) {
	_, err := readCloudEvent([]byte(`{"data_base64":1,"id":"a","source":"/s","specversion":"1.0","type":"t"}`))
	if err == nil || !strings.Contains(err.Error(), "SDK failed") {
		t.Errorf("readCloudEvent(data_base64 1) error = %v, want the SDK's panic as an error", err)
	}
}

// keyResource is the key state Decode must build from a Key Vault key event in
// testdata: the shape of the ARM GET of a key, written out here by hand.
func keyResource(t testing.TB, file string) *guard.Resource {
	t.Helper()
	vault := "/subscriptions/{subscription-id}/resourceGroups/sample-rg/providers/Microsoft.KeyVault/vaults/sample-kv"
	var body map[string]any
	var at string
	switch file {
	case "kv_key_new_version_eg.json":
		at = "2019-07-25T01:08:33.1036736Z"
		body = map[string]any{
			"id": vault + "/keys/newkey", "name": "newkey", "type": "Microsoft.KeyVault/vaults/keys",
			"properties": map[string]any{
				"keyUri":            "https://sample-kv.vault.azure.net/keys/newkey",
				"keyUriWithVersion": "https://sample-kv.vault.azure.net/keys/newkey/ee059b2bb5bc48398a53b168c6cdcb10",
				"attributes":        map[string]any{"nbf": 1559081980, "exp": 1559082102},
			},
			"fromEvent": map[string]any{"type": "Microsoft.KeyVault.KeyNewVersionCreated", "id": "5b1c7a4e-2f3d-4c8b-9e6a-0d1f2e3a4b5c", "time": at},
		}
	case "kv_key_near_expiry_eg.json", "kv_key_expired_ce.json":
		attrs := map[string]any{"nbf": 1760000000, "exp": 1763683200}
		ev := map[string]any{"type": "Microsoft.KeyVault.KeyNearExpiry", "id": "8d3e1f20-6a7b-4c5d-8e9f-a0b1c2d3e4f5", "time": "2025-10-22T00:00:12.551234Z"}
		at = "2025-10-22T00:00:12.551234Z"
		attrs["nearExpiry"] = true
		if file == "kv_key_expired_ce.json" {
			delete(attrs, "nearExpiry")
			attrs["expired"] = true
			at = "2025-11-21T00:00:41.007Z"
			ev = map[string]any{"type": "Microsoft.KeyVault.KeyExpired", "id": "c4f2a9d1-7e3b-4a6c-b5d8-9e0f1a2b3c4d", "time": at}
		}
		body = map[string]any{
			"id": vault + "/keys/wrappingKey", "name": "wrappingKey", "type": "Microsoft.KeyVault/vaults/keys",
			"properties": map[string]any{
				"keyUri":            "https://sample-kv.vault.azure.net/keys/wrappingKey",
				"keyUriWithVersion": "https://sample-kv.vault.azure.net/keys/wrappingKey/0682afdd9c104f4285df20107e956cad",
				"attributes":        attrs,
			},
			"fromEvent": ev,
		}
	default:
		t.Fatalf("no key state written for %s", file)
	}
	at2 := mustTime(t, at)
	return &guard.Resource{ID: body["id"].(string), Type: "Microsoft.KeyVault/vaults/keys", ObservedAt: at2, Body: marshal(t, body)}
}

// keyEvent is a Key Vault KeyNearExpiry event in the Event Grid schema; tests
// change one thing.
func keyEvent() map[string]any {
	return map[string]any{
		"id":        "kv-1",
		"topic":     "/subscriptions/sub-1/resourceGroups/rg-kv/providers/Microsoft.KeyVault/vaults/kv-itar",
		"subject":   "cmk",
		"eventType": "Microsoft.KeyVault.KeyNearExpiry",
		"eventTime": "2026-11-01T08:00:00Z",
		"data": map[string]any{
			"Id": "https://kv-itar.vault.usgovcloudapi.net/keys/cmk/4b9f0c2d6e8a4f1b9c3d5e7f9a1b3c5d", "VaultName": "kv-itar",
			"ObjectType": "Key", "ObjectName": "cmk", "Version": "4b9f0c2d6e8a4f1b9c3d5e7f9a1b3c5d",
			"NBF": 1761955200, "EXP": 1764547200,
		},
		"dataVersion": "1", "metadataVersion": "1",
	}
}

// asCloudEvent turns an Event Grid-schema event into CloudEvents 1.0.
func asCloudEvent(eg map[string]any) map[string]any {
	ce := map[string]any{"specversion": "1.0"}
	for k, v := range eg {
		switch k {
		case "topic":
			ce["source"] = v
		case "eventType":
			ce["type"] = v
		case "eventTime":
			ce["time"] = v
		case "dataVersion", "metadataVersion":
		default:
			ce[k] = v
		}
	}
	return ce
}

func TestDecodeKeyEvent(t *testing.T) {
	keyID := "/subscriptions/sub-1/resourceGroups/rg-kv/providers/Microsoft.KeyVault/vaults/kv-itar/keys/cmk"
	tests := []struct {
		name       string
		edit       func(eg map[string]any)
		wantAttrs  map[string]any // properties.attributes
		wantURI    string         // properties.keyUriWithVersion ("" absent)
		wantAction guard.Action
	}{
		{"as is", func(map[string]any) {},
			map[string]any{"nbf": 1761955200.0, "exp": 1764547200.0, "nearExpiry": true}, "https://kv-itar.vault.usgovcloudapi.net/keys/cmk/4b9f0c2d6e8a4f1b9c3d5e7f9a1b3c5d", guard.ActionAction},
		{"expired", func(eg map[string]any) { eg["eventType"] = "Microsoft.KeyVault.KeyExpired" },
			map[string]any{"nbf": 1761955200.0, "exp": 1764547200.0, "expired": true}, "https://kv-itar.vault.usgovcloudapi.net/keys/cmk/4b9f0c2d6e8a4f1b9c3d5e7f9a1b3c5d", guard.ActionAction},
		{"new version, type in lower case", func(eg map[string]any) { eg["eventType"] = "microsoft.keyvault.keynewversioncreated" },
			map[string]any{"nbf": 1761955200.0, "exp": 1764547200.0}, "https://kv-itar.vault.usgovcloudapi.net/keys/cmk/4b9f0c2d6e8a4f1b9c3d5e7f9a1b3c5d", guard.ActionWrite},
		{"null NBF and EXP: no expiry known", func(eg map[string]any) { data(eg)["NBF"], data(eg)["EXP"] = nil, nil },
			map[string]any{"nearExpiry": true}, "https://kv-itar.vault.usgovcloudapi.net/keys/cmk/4b9f0c2d6e8a4f1b9c3d5e7f9a1b3c5d", guard.ActionAction},
		{"numbers as strings with spaces, float EXP", func(eg map[string]any) { data(eg)["NBF"], data(eg)["EXP"] = " 1761955200 ", 1.7645472e9 },
			map[string]any{"nbf": 1761955200.0, "exp": 1764547200.0, "nearExpiry": true}, "https://kv-itar.vault.usgovcloudapi.net/keys/cmk/4b9f0c2d6e8a4f1b9c3d5e7f9a1b3c5d", guard.ActionAction},
		{"doc typos: padded keys and values", func(eg map[string]any) {
			d := data(eg)
			d["ObjectName "], d["Version"], d[" ObjectType"] = " cmk", " 4b9f0c2d6e8a4f1b9c3d5e7f9a1b3c5d", "key"
			delete(d, "ObjectName")
			delete(d, "ObjectType")
		}, map[string]any{"nbf": 1761955200.0, "exp": 1764547200.0, "nearExpiry": true}, "https://kv-itar.vault.usgovcloudapi.net/keys/cmk/4b9f0c2d6e8a4f1b9c3d5e7f9a1b3c5d", guard.ActionAction},
		{"Id without version: Version completes it", func(eg map[string]any) { data(eg)["Id"] = "https://kv-itar.vault.usgovcloudapi.net/keys/cmk" },
			map[string]any{"nbf": 1761955200.0, "exp": 1764547200.0, "nearExpiry": true}, "https://kv-itar.vault.usgovcloudapi.net/keys/cmk/4b9f0c2d6e8a4f1b9c3d5e7f9a1b3c5d", guard.ActionAction},
		{"no ObjectName: subject", func(eg map[string]any) { delete(data(eg), "ObjectName") },
			map[string]any{"nbf": 1761955200.0, "exp": 1764547200.0, "nearExpiry": true}, "https://kv-itar.vault.usgovcloudapi.net/keys/cmk/4b9f0c2d6e8a4f1b9c3d5e7f9a1b3c5d", guard.ActionAction},
		{"no version anywhere", func(eg map[string]any) {
			data(eg)["Id"] = "https://kv-itar.vault.usgovcloudapi.net/keys/cmk"
			delete(data(eg), "Version")
		}, map[string]any{"nbf": 1761955200.0, "exp": 1764547200.0, "nearExpiry": true}, "", guard.ActionAction},
	}
	for _, tt := range tests {
		for _, schema := range []string{"eventgrid", "cloudevents"} {
			t.Run(tt.name+"/"+schema, func(t *testing.T) {
				eg := keyEvent()
				tt.edit(eg)
				ev := eg
				if schema == "cloudevents" {
					ev = asCloudEvent(eg)
				}
				c, rejected, ignored := decodeOne(t, ev)
				if rejected != "" || ignored {
					t.Fatalf("Decode rejected (%q) or ignored (%v) the event, want a change", rejected, ignored)
				}
				if c.ResourceID != keyID || c.ResourceType != "Microsoft.KeyVault/vaults/keys" || c.SubscriptionID != "sub-1" ||
					c.Outcome != guard.OutcomeSucceeded || c.Action != tt.wantAction || c.EventID != "kv-1" || c.CorrelationID != "" ||
					!c.EventTime.Equal(mustTime(t, "2026-11-01T08:00:00Z")) {
					t.Errorf("change = %+v", c)
				}
				if c.Resource == nil || c.Resource.ID != keyID || c.Resource.Type != "Microsoft.KeyVault/vaults/keys" || c.Resource.Location != "" {
					t.Fatalf("change carries resource %+v, want the key", c.Resource)
				}
				var body struct {
					Properties struct {
						KeyURI            string         `json:"keyUri"`
						KeyURIWithVersion string         `json:"keyUriWithVersion"`
						Attributes        map[string]any `json:"attributes"`
					} `json:"properties"`
					FromEvent map[string]any `json:"fromEvent"`
				}
				if err := json.Unmarshal(c.Resource.Body, &body); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.wantAttrs, body.Properties.Attributes); diff != "" {
					t.Errorf("attributes (-want +got):\n%s", diff)
				}
				if body.Properties.KeyURI != "https://kv-itar.vault.usgovcloudapi.net/keys/cmk" || body.Properties.KeyURIWithVersion != tt.wantURI {
					t.Errorf("keyUri, keyUriWithVersion = %q, %q", body.Properties.KeyURI, body.Properties.KeyURIWithVersion)
				}
				if body.FromEvent["id"] != "kv-1" || !strings.HasPrefix(body.FromEvent["type"].(string), "Microsoft.KeyVault.Key") {
					t.Errorf("fromEvent = %v", body.FromEvent)
				}
			})
		}
	}
}

func TestDecodeKeyEventRejected(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(eg map[string]any)
		reason string
	}{
		{"topic a resource group", func(eg map[string]any) { eg["topic"] = "/subscriptions/sub-1/resourceGroups/rg-kv" }, "is not the ARM ID of a key vault"},
		{"no topic", func(eg map[string]any) { delete(eg, "topic") }, "is not the ARM ID of a key vault"},
		{"topic a key, not a vault", func(eg map[string]any) { eg["topic"] = eg["topic"].(string) + "/keys/cmk" }, "is not the ARM ID of a key vault"},
		{"no time", func(eg map[string]any) { delete(eg, "eventTime") }, "missing time"},
		{"no data", func(eg map[string]any) { delete(eg, "data") }, "data is missing"},
		{"data an array", func(eg map[string]any) { eg["data"] = []any{1} }, "data is not a JSON object"},
		{"secret's object type", func(eg map[string]any) { data(eg)["ObjectType"] = "Secret" }, `data.ObjectType is "Secret", not Key`},
		{"no Id", func(eg map[string]any) { delete(data(eg), "Id") }, "data.Id (the key's URI) is missing"},
		{"Id of a secret", func(eg map[string]any) { data(eg)["Id"] = "https://kv-itar.vault.usgovcloudapi.net/secrets/cmk/1" }, "is not a Key Vault key URI"},
		{"Id over http", func(eg map[string]any) { data(eg)["Id"] = "http://kv-itar.vault.usgovcloudapi.net/keys/cmk/1" }, "is not a Key Vault key URI"},
		{"Id with a query", func(eg map[string]any) { data(eg)["Id"] = "https://kv-itar.vault.usgovcloudapi.net/keys/cmk/1?x=1" }, "is not a Key Vault key URI"},
		{"Id with an escaped slash in the name", func(eg map[string]any) { data(eg)["Id"] = "https://kv-itar.vault.usgovcloudapi.net/keys/c%2Fmk/1" }, "is not a Key Vault key URI"},
		{"Id with a space in the name", func(eg map[string]any) { data(eg)["Id"] = "https://kv-itar.vault.usgovcloudapi.net/keys/c%20mk/1" }, "is not a Key Vault object name"},
		{"names differ", func(eg map[string]any) { data(eg)["ObjectName"] = "other" }, "name different keys"},
		{"versions differ", func(eg map[string]any) { data(eg)["Version"] = "ffff" }, "differ"},
		{"EXP not a number", func(eg map[string]any) { data(eg)["EXP"] = "soon" }, "data.EXP \"soon\" is not a time in Unix seconds"},
		{"EXP negative", func(eg map[string]any) { data(eg)["EXP"] = -5 }, "is not a time in Unix seconds"},
		{"NBF beyond year 9999", func(eg map[string]any) { data(eg)["NBF"] = 1e12 }, "is not a time in Unix seconds"},
		{"EXP an object", func(eg map[string]any) { data(eg)["EXP"] = map[string]any{} }, "is not a time in Unix seconds"},
	}
	for _, tt := range tests {
		for _, schema := range []string{"eventgrid", "cloudevents"} {
			t.Run(tt.name+"/"+schema, func(t *testing.T) {
				eg := keyEvent()
				tt.edit(eg)
				ev := eg
				if schema == "cloudevents" {
					if _, ok := eg["topic"]; !ok {
						t.Skip("CloudEvents requires source; the SDK rejects the event before Decode looks at it")
					}
					ev = asCloudEvent(eg)
				}
				_, rejected, ignored := decodeOne(t, ev)
				if ignored || !strings.Contains(rejected, tt.reason) {
					t.Errorf("Decode rejected %q (ignored %v), want a rejection containing %q", rejected, ignored, tt.reason)
				}
			})
		}
	}
}
