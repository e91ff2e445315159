package replay

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/session"
)

func TestARMWritesBecomeObservations(t *testing.T) {
	ctx := context.Background()
	at := func(h int) time.Time { return time.Date(2026, 11, 2, h, 0, 0, 0, time.UTC) }
	clock := at(10)
	a := NewARM(func() time.Time { return clock })
	const acct = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/a"
	const nsg = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/networkSecurityGroups/n"
	a.Observe(session.Line{Source: session.SourceARM, At: at(9), ID: acct, Body: []byte(`{"id":"` + acct + `","sku":{"name":"Standard_GRS"},"tags":{"owner":"eng"},"properties":{"minimumTlsVersion":"TLS1_0","keep":1}}`)})
	a.Observe(session.Line{Source: session.SourceARM, At: at(9), ID: nsg, Body: []byte(`{"id":"` + nsg + `","properties":{"securityRules":[{"id":"` + nsg + `/securityRules/jit","name":"jit"},{"id":"` + nsg + `/securityRules/deny","name":"deny"}]}}`)})

	// PATCH merges.
	r, err := a.Patch(ctx, acct, []byte(`{"sku":{"name":"Standard_LRS"},"properties":{"minimumTlsVersion":"TLS1_2"}}`))
	if err != nil || !strings.Contains(string(r.Body), `"Standard_LRS"`) || !strings.Contains(string(r.Body), `"keep":1`) {
		t.Fatalf("PATCH: %v %v", r, err)
	}
	// Later reads see it; reads before the write do not.
	if got, _ := a.ReadResource(ctx, acct); !strings.Contains(string(got.Body), "TLS1_2") {
		t.Errorf("read after the write: %s", got.Body)
	}
	clock = at(9)
	if got, _ := a.ReadResource(ctx, acct); !strings.Contains(string(got.Body), "Standard_GRS") {
		t.Errorf("read before the write: %s", got.Body)
	}
	clock = at(10)

	// The Tags API merges into the resource's tags.
	if _, err := a.Patch(ctx, acct+"/providers/Microsoft.Resources/tags/default", []byte(`{"operation":"Merge","properties":{"tags":{"exportguard-violation":"residency.location"}}}`)); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.ReadResource(ctx, acct); !strings.Contains(string(got.Body), `"exportguard-violation":"residency.location"`) || !strings.Contains(string(got.Body), `"owner":"eng"`) {
		t.Errorf("tags: %s", got.Body)
	}

	// DELETE of a child takes it out of its parent's body.
	if err := a.Delete(ctx, nsg+"/securityRules/jit"); err != nil {
		t.Fatal(err)
	}
	got, _ := a.ReadResource(ctx, nsg)
	if strings.Contains(string(got.Body), "securityRules/jit") || !strings.Contains(string(got.Body), "securityRules/deny") {
		t.Errorf("NSG after the rule's deletion: %s", got.Body)
	}
	if err := a.Delete(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ReadResource(ctx, acct); !errors.Is(err, guard.ErrNotFound) {
		t.Errorf("read of a deleted resource: %v", err)
	}
	if _, err := a.Patch(ctx, acct, []byte(`{}`)); !errors.Is(err, guard.ErrNotFound) {
		t.Errorf("PATCH of a deleted resource: %v", err)
	}
	if n := len(a.Writes()); n != 5 {
		t.Errorf("%d writes recorded, want 5", n)
	}

	// PUT replaces, keeping the identity fields.
	const fg = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Sql/servers/s/encryptionProtector/current"
	a.Observe(session.Line{Source: session.SourceARM, At: at(9), ID: fg, Body: []byte(`{"id":"` + fg + `","name":"current","type":"Microsoft.Sql/servers/encryptionProtector","properties":{"serverKeyType":"ServiceManaged"}}`)})
	r, err = a.Put(ctx, fg, []byte(`{"properties":{"serverKeyType":"AzureKeyVault","serverKeyName":"k"}}`))
	if err != nil || !strings.Contains(string(r.Body), `"name":"current"`) || !strings.Contains(string(r.Body), "AzureKeyVault") {
		t.Errorf("PUT: %v %v", r, err)
	}

	// A Cosmos DB account's read and write regions follow its locations.
	const cosmos = "/subscriptions/s/resourceGroups/r/providers/Microsoft.DocumentDB/databaseAccounts/c"
	loc := func(n string, p int) string {
		return `{"id":"c-` + n + `","locationName":"` + n + `","failoverPriority":` + string(rune('0'+p)) + `}`
	}
	a.Observe(session.Line{Source: session.SourceARM, At: at(9), ID: cosmos, Body: []byte(`{"id":"` + cosmos + `","properties":{"locations":[` + loc("East US", 0) + `,` + loc("West Europe", 1) +
		`],"readLocations":[` + loc("East US", 0) + `,` + loc("West Europe", 1) + `],"writeLocations":[` + loc("East US", 0) + `],"failoverPolicies":[` + loc("East US", 0) + `,` + loc("West Europe", 1) + `]}}`)})
	if _, err := a.Patch(ctx, cosmos, []byte(`{"properties":{"locations":[{"locationName":"East US","failoverPriority":0}]}}`)); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.ReadResource(ctx, cosmos); strings.Contains(string(got.Body), "West Europe") || !strings.Contains(string(got.Body), `"writeLocations":[{`) {
		t.Errorf("Cosmos DB account after removing West Europe: %s", got.Body)
	}
}
