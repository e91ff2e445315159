package eventgrid

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
)

// TestDecodeRefusesBadIDs: an event whose resource ID could be read two ways
// ("..", an escape, a backslash, a control character) is rejected with the
// reason, in each shape that carries an ID (Event Grid schema and CloudEvents
// resource events, Resource Notifications, Key Vault key events), and the good
// events of the same delivery are still read (DESIGN 3.6, issue 14 case 5).
func TestDecodeRefusesBadIDs(t *testing.T) {
	const allowed = "/subscriptions/sub-1/resourceGroups/rg"
	const escape = allowed + "/../../../subscriptions/OTHER/resourceGroups/rg/providers/Microsoft.Sql/servers/sql1"

	egBad := egBase()
	data(egBad)["resourceUri"] = escape
	ceBad := ceBase()
	data(ceBad)["resourceUri"] = allowed + "/%2e%2e/%2e%2e/%2e%2e/subscriptions/OTHER/providers/Microsoft.Sql/servers/sql1"
	subjectBad := egBase() // no resourceUri: the subject is the ID
	delete(data(subjectBad), "resourceUri")
	subjectBad["subject"] = allowed + "/providers/Microsoft.Sql/servers/sql1\\..\\..\\x"
	subMismatch := egBase()
	data(subMismatch)["subscriptionId"] = "sub-2"

	var rnBad map[string]any
	if err := json.Unmarshal(readTestdata(t, "rn_created_or_updated.json"), &rnBad); err != nil {
		t.Fatal(err)
	}
	data(rnBad)["resourceInfo"].(map[string]any)["id"] = "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a\u0000b"

	kvBad := asCloudEvent(keyEvent()) // the vault's ID is the source, unescaped
	kvBad["source"] = "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/subscriptions/OTHER/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v2"
	kvBadEG := keyEvent()
	kvBadEG["topic"] = "/subscriptions/sub-1/resourceGroups/r\tg/providers/Microsoft.KeyVault/vaults/v"

	events := []any{
		json.RawMessage(readTestdata(t, "ce_resource_write_success.json")),
		egBad,
		json.RawMessage(readTestdata(t, "rn_created_or_updated.json")),
		ceBad,
		subjectBad,
		subMismatch,
		rnBad,
		keyEvent(),
		kvBad,
		kvBadEG,
	}
	got, err := Decode(marshal(t, events))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ index, says string }{
		{"event grid event 1:", "resource ID refused: dot segment"},
		{"event grid event 3:", "resource ID refused: percent-escape"},
		{"event grid event 4:", "resource ID refused: backslash"},
		{"event grid event 5:", "data.subscriptionId is not the subscription the resource ID names"},
		{"event grid event 6:", "resource ID refused: control character"},
		{"event grid event 8:", "resource ID refused: dot segment"},
		{"event grid event 9:", "resource ID refused: control character"},
	}
	if len(got.Rejected) != len(want) {
		t.Fatalf("%d rejected, want %d: %+v", len(got.Rejected), len(want), got.Rejected)
	}
	for i, w := range want {
		r := got.Rejected[i]
		if !strings.HasPrefix(r.Reason, w.index) || !strings.Contains(r.Reason, w.says) {
			t.Errorf("rejected %d: %q, want %s … %s", i, r.Reason, w.index, w.says)
		}
		if strings.Contains(r.Reason, "OTHER") || len(r.Body) == 0 {
			t.Errorf("rejected %d: the reason repeats the ID, or the event is not kept: %+v", i, r)
		}
	}
	if len(got.Changes) != 3 || got.Ignored != 0 {
		t.Fatalf("%d changes and %d ignored, want the 3 good events read", len(got.Changes), got.Ignored)
	}
	for _, c := range got.Changes {
		if err := guard.CheckResourceID(c.ResourceID); err != nil || strings.Contains(c.ResourceID, "OTHER") {
			t.Errorf("change for %q passed", c.ResourceID)
		}
	}
}
