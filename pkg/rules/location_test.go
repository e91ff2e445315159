package rules

import (
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
)

func TestLocationApplies(t *testing.T) {
	for _, typ := range []string{TypeStorageAccount, "Microsoft.Web/sites", "microsoft.sql/servers/databases", "x"} {
		if !(Location{}).Applies(typ) {
			t.Errorf("Location does not apply to %q", typ)
		}
	}
	for _, typ := range []string{"", "  "} {
		if (Location{}).Applies(typ) {
			t.Errorf("Location applies to %q", typ)
		}
	}
}

func TestLocation(t *testing.T) {
	at := func(loc any) func(m map[string]any) { return func(m map[string]any) { set(m, "location", loc) } }
	server := "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/sqlcrudtest-7398/providers/Microsoft.Sql/servers/sqlcrudtest-4645"
	tests := []struct {
		name          string
		file          string
		edit          func(map[string]any)
		policy        *guard.Policy
		wantViolation bool
		wantTarget    string // "" for the resource itself
		wantGeography string
		wantIn        string // in the message
	}{
		{"spec example: (stage) region is unknown", "storage_account_get.json", noEdit, polUS, true, "", "unknown (not a known Azure region)", "not a known Azure region"},
		{"East US storage", "storage_account_get.json", at("eastus"), polUS, false, "", "United States", "East US"},
		{"West Europe storage", "storage_account_get.json", at("westeurope"), polUS, true, "", "Europe", "West Europe (geography Europe)"},
		{"upper-case programmatic name", "storage_account_get.json", at("WESTUS2"), polUS, false, "", "United States", "West US 2"},
		{"Cosmos display name", "cosmos_account_get.json", noEdit, polUS, false, "", "United States", "Cosmos DB account ddb1 is in West US"},
		{"SQL server in Japan", "sql_server_get.json", noEdit, polUS, true, "", "Japan", "SQL server sqlcrudtest-4645 is in Japan East"},
		{"SQL server in Japan, Japan allowed", "sql_server_get.json", noEdit, polJapan, false, "", "Japan", "inside the allowed"},
		{"disk without a type, display name", "disk_with_des.json", noEdit, polUS, false, "", "United States", "Managed disk myDisk"},
		{"Gov region, Gov geography", "storage_account_get.json", at("usgovvirginia"), polGov, false, "", "US Government", "US Gov Virginia"},
		{"Gov display name, Gov geography", "storage_account_get.json", at("US Gov Arizona"), polGov, false, "", "US Government", "US Gov Arizona"},
		{"DoD region is not US Government", "storage_account_get.json", at("usdodeast"), polGov, true, "", "US Department of Defense", "US DoD East (geography US Department of Defense)"},
		{"Texas outside a Virginia-only policy", "storage_account_get.json", at("US Gov Texas"), polGovVA, true, "", "US Government", "outside the allowed regions usgovvirginia"},
		{"Gov region under the public default", "storage_account_get.json", at("usgovvirginia"), polUS, true, "", "US Government", "outside the allowed geographies United States"},
		{"public region under a Gov policy", "storage_account_get.json", at("eastus"), polGov, true, "", "United States", "East US"},
		{"child protector: reported on the server", "sql_encryption_protector_get.json", noEdit, polUS, true, server, "Japan", "(the region of its child current)"},
		{"child failover group, display name", "sql_failover_group_get.json", noEdit, polJapan, false,
			"/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/Default/providers/Microsoft.Sql/servers/failover-group-primary-server", "Japan", "SQL server failover-group-primary-server is in Japan East"},
		{"Key Vault key: the vault's region", "keyvault_key_get.json", noEdit, polUS, false,
			"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/sample-group/providers/Microsoft.KeyVault/vaults/sample-vault-name", "United States", "Key vault sample-vault-name is in West US"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := fixture(t, tt.file, tt.edit)
			res := resource(t, body)
			v := one(t, judge(t, Location{}, tt.policy, body))
			if v.Violation != tt.wantViolation {
				t.Errorf("Violation = %v, want %v (%s)", v.Violation, tt.wantViolation, v.Message)
			}
			target := firstNonEmpty(tt.wantTarget, res.ID)
			if v.ResourceID != target || v.GrantID != "" {
				t.Errorf("verdict on %s (grant %q), want %s", v.ResourceID, v.GrantID, target)
			}
			if tt.wantTarget != "" && v.Evidence["reportedVia"] != res.ID {
				t.Errorf("evidence reportedVia = %v, want the child %s", v.Evidence["reportedVia"], res.ID)
			}
			if v.Evidence["geography"] != tt.wantGeography || v.Evidence["allowed"] != tt.policy.AllowedSummary() {
				t.Errorf("evidence = %v, want geography %q and the allowed set", v.Evidence, tt.wantGeography)
			}
			if !strings.Contains(v.Message, tt.wantIn) {
				t.Errorf("message %q lacks %q", v.Message, tt.wantIn)
			}
			if v.Violation && !strings.Contains(v.Action, "recreate") {
				t.Errorf("action %q", v.Action)
			}
		})
	}
}

func TestLocationNoVerdict(t *testing.T) {
	tests := []struct {
		name string
		file string
		edit func(map[string]any)
	}{
		{"global", "storage_account_get.json", func(m map[string]any) { m["location"] = "global" }},
		{"Global, padded", "storage_account_get.json", func(m map[string]any) { m["location"] = " Global " }},
		{"empty", "storage_account_get.json", func(m map[string]any) { m["location"] = "" }},
		{"absent (a replication link has none)", "sql_replication_link_get.json", noEdit},
		{"JIT policy under a locations pseudo-resource", "storage_account_get.json", func(m map[string]any) {
			m["id"] = "/subscriptions/20ff7fc3-e762-44dd-bd96-b71116dcdc23/resourceGroups/myRg1/providers/Microsoft.Security/locations/westeurope/jitNetworkAccessPolicies/default"
			m["type"] = "Microsoft.Security/locations/jitNetworkAccessPolicies"
			m["location"] = "westeurope"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if vs := judge(t, Location{}, polUS, fixture(t, tt.file, tt.edit)); len(vs) != 0 {
				t.Errorf("got %+v, want no verdict", vs)
			}
		})
	}
}

// A resource known only by its stored fields (Location set, body without it) is
// still judged, and one whose body alone has the location too.
func TestLocationFromFieldOrBody(t *testing.T) {
	r := &guard.Resource{ID: "/subscriptions/s/resourceGroups/r/providers/Microsoft.Web/sites/app", Type: "Microsoft.Web/sites", Location: "francecentral", Body: []byte(`{}`)}
	v := one(t, judgeIn(t, Location{}, guard.Input{Policy: polUS, Resource: r, Now: testNow}))
	if !v.Violation || !strings.Contains(v.Message, "Resource app (Microsoft.Web/sites) is in France Central") {
		t.Errorf("verdict %+v", v)
	}
	r = &guard.Resource{ID: r.ID, Type: r.Type, Body: []byte(`{"location":"centralus"}`)}
	if v := one(t, judgeIn(t, Location{}, guard.Input{Policy: polUS, Resource: r, Now: testNow})); v.Violation {
		t.Errorf("verdict %+v, want compliant", v)
	}
}

// A region the table does not know reads as a plain sentence, alone or with the
// child it was reported through. The spec example's "eastus2(stage)" is such a
// region (testdata/README.md).
func TestLocationUnknownRegionMessage(t *testing.T) {
	tests := []struct {
		name, file string
		edit       func(map[string]any)
		want       string
	}{
		{"spec example (stage) region", "storage_account_get.json", noEdit,
			"Storage account sto8596 is in eastus2(stage) (not a known Azure region), outside the allowed geographies United States."},
		{"child protector in an unknown region", "sql_encryption_protector_get.json", func(m map[string]any) { m["location"] = "moonbase1" },
			"SQL server sqlcrudtest-4645 is in moonbase1 (not a known Azure region) (the region of its child current), outside the allowed geographies United States."},
		{"known region, for comparison", "storage_account_get.json", func(m map[string]any) { m["location"] = "westeurope" },
			"Storage account sto8596 is in West Europe (geography Europe), outside the allowed geographies United States."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := one(t, judge(t, Location{}, polUS, fixture(t, tt.file, tt.edit)))
			if v.Message != tt.want {
				t.Errorf("message\n got %q\nwant %q", v.Message, tt.want)
			}
		})
	}
}
