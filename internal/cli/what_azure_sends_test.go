package cli

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
)

// What Azure really sends (issue 16), through the resourceevents function as
// serve runs it: the spec's Resource Notifications storage payload
// (pkg/rules/testdata/storage_account_notification.json, Resources_StorageAccount_CreatedOrUpdated.json)
// has no sku, only secondaryLocation. It opens residency.replication when
// that secondary is outside the policy; a later payload without a secondary
// (locally redundant, by its own word) resolves nothing while ARM still
// answers a replicated account (DESIGN 3.6).
func TestResourceNotificationWithoutSKUOpensReplication(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("pkg/rules/testdata/storage_account_notification.json")
	if err != nil {
		t.Fatal(err)
	}
	id := trustAccount("rnnosku")
	payload := func(edit func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		m["id"], m["name"] = id, "rnnosku" // the example's id has placeholders and a space
		if edit != nil {
			edit(m)
		}
		b, _ := json.Marshal(m)
		return b
	}
	pol := policyfile.Default()
	pol.AllowedGeographies, pol.AllowedRegions = nil, []string{"eastus"}
	th := startTrustHandler(t, pol)
	// ARM's own state: the same account, RA-GRS to West Europe.
	th.observe(trustAt(-10), storageBody(id, true, goodVault))

	th.send(trustAt(0), "resourceevents", resourceEvent(notificationEvent("CreatedOrUpdated", "rn-1", trustAt(0), payload(nil))))
	f, ok := th.findingsOf(id)[guard.RuleResidencyReplication]
	if !ok || f.Status != guard.StatusOpen {
		t.Fatalf("after the spec's notification (secondary westus, policy eastus only): residency.replication = %+v, want open", f)
	}

	lrs := payload(func(m map[string]any) {
		props := m["properties"].(map[string]any)
		delete(props, "secondaryLocation")
		delete(props, "secondaryEndpoints")
		delete(props, "statusOfSecondary")
	})
	th.send(trustAt(10), "resourceevents", resourceEvent(notificationEvent("CreatedOrUpdated", "rn-2", trustAt(10), lrs)))
	if f := th.findingsOf(id)[guard.RuleResidencyReplication]; f.Status != guard.StatusOpen {
		t.Errorf("after a notification without secondaryLocation while ARM still replicates: %s, want open", f.Status)
	}
	th.up("notifications")
}
