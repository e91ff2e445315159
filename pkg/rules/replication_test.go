package rules

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/google/go-cmp/cmp"
)

// cosmosWith returns the spec's Cosmos DB GET with its region lists replaced:
// regions[0] is the write region (failover priority 0).
func cosmosWith(regions ...string) func(map[string]any) {
	return func(m map[string]any) {
		var locs, fps []any
		for i, r := range regions {
			locs = append(locs, map[string]any{"id": "ddb1-" + r, "locationName": r, "provisioningState": "Succeeded", "failoverPriority": i})
			fps = append(fps, map[string]any{"id": "ddb1-" + r, "locationName": r, "failoverPriority": i})
		}
		p := m["properties"].(map[string]any)
		p["locations"], p["failoverPolicies"], p["readLocations"] = locs, fps, locs
		p["writeLocations"] = locs[:1]
	}
}

func TestCosmosReplication(t *testing.T) {
	maxExcerpt := func(m map[string]any) {
		raw, err := os.ReadFile("testdata/cosmos_account_create_max_excerpt.json")
		if err != nil {
			t.Fatal(err)
		}
		var p map[string]any
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		m["properties"] = p
	}
	tests := []struct {
		name          string
		edit          func(map[string]any)
		policy        *guard.Policy
		wantViolation bool
		wantRegions   []string
		wantOutside   []string
		wantAction    string
	}{
		{"spec GET: East US only", noEdit, polUS, false, []string{"East US"}, nil, ""},
		{"spec CreateMax: South Central US and East US", maxExcerpt, polUS, false, []string{"South Central US", "East US"}, nil, ""},
		{"read replica in Japan West", cosmosWith("East US", "Japan West"), polUS, true, []string{"East US", "Japan West"}, []string{"Japan West"},
			"remove Japan West from properties.locations"},
		{"write region in West Europe", cosmosWith("West Europe", "East US", "North Europe"), polUS, true, []string{"West Europe", "East US", "North Europe"},
			[]string{"West Europe", "North Europe"}, "fail the write region over to an allowed region, then remove West Europe and North Europe from properties.locations"},
		{"programmatic names work too", cosmosWith("eastus", "westus"), polUS, false, []string{"eastus", "westus"}, nil, ""},
		{"Gov regions, Gov geography", cosmosWith("US Gov Virginia", "US Gov Texas"), polGov, false, []string{"US Gov Virginia", "US Gov Texas"}, nil, ""},
		{"Gov: Texas outside a Virginia-only policy", cosmosWith("US Gov Virginia", "US Gov Texas"), polGovVA, true,
			[]string{"US Gov Virginia", "US Gov Texas"}, []string{"US Gov Texas"}, "remove US Gov Texas from properties.locations"},
		{"unknown region is outside", cosmosWith("East US", "Mars North"), polUS, true, []string{"East US", "Mars North"}, []string{"Mars North"},
			"remove Mars North from properties.locations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := fixture(t, "cosmos_account_get.json", tt.edit)
			v := one(t, judge(t, CosmosReplication{}, tt.policy, body))
			if v.Violation != tt.wantViolation {
				t.Errorf("Violation = %v, want %v (%s)", v.Violation, tt.wantViolation, v.Message)
			}
			if v.ResourceID != "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.DocumentDB/databaseAccounts/ddb1" || v.GrantID != "" {
				t.Errorf("verdict on %s grant %q", v.ResourceID, v.GrantID)
			}
			if diff := cmp.Diff(tt.wantRegions, v.Evidence["regions"]); diff != "" {
				t.Errorf("evidence regions (-want +got):\n%s", diff)
			}
			if got, _ := v.Evidence["outsideRegions"].([]string); !cmp.Equal(got, tt.wantOutside) {
				t.Errorf("evidence outsideRegions = %v, want %v", got, tt.wantOutside)
			}
			if v.Action != tt.wantAction {
				t.Errorf("Action = %q, want %q", v.Action, tt.wantAction)
			}
			for _, r := range tt.wantOutside {
				if !strings.Contains(v.Message, r) {
					t.Errorf("message %q does not name %s", v.Message, r)
				}
			}
		})
	}
}

func TestCosmosReplicationNoRegions(t *testing.T) {
	body := fixture(t, "cosmos_account_get.json", func(m map[string]any) {
		p := m["properties"].(map[string]any)
		for _, k := range []string{"locations", "readLocations", "writeLocations", "failoverPolicies"} {
			delete(p, k)
		}
	})
	if vs := judge(t, CosmosReplication{}, polUS, body); len(vs) != 0 {
		t.Errorf("got %+v, want no verdict", vs)
	}
}

func TestSQLFailoverGroupReplication(t *testing.T) {
	fgID := "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/Default/providers/Microsoft.Sql/servers/failover-group-primary-server/failoverGroups/failover-group-test"
	server := guard.ParentOf(fgID)
	partner := func(loc string) func(map[string]any) {
		return func(m map[string]any) {
			m["properties"].(map[string]any)["partnerServers"].([]any)[0].(map[string]any)["location"] = loc
		}
	}
	tests := []struct {
		name          string
		edit          func(map[string]any)
		policy        *guard.Policy
		wantViolation bool
	}{
		{"spec: partner in Japan West, US policy", noEdit, polUS, true},
		{"spec: Japan allowed", noEdit, polJapan, false},
		{"partner in West US 2", partner("West US 2"), polUS, false},
		{"Gov partner, Gov geography", partner("US Gov Texas"), polGov, false},
		{"Gov partner outside Virginia-only", partner("US Gov Texas"), polGovVA, true},
		{"partner location missing", partner(""), polUS, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := one(t, judge(t, SQLFailoverGroupReplication{}, tt.policy, fixture(t, "sql_failover_group_get.json", tt.edit)))
			if v.Violation != tt.wantViolation {
				t.Errorf("Violation = %v, want %v (%s)", v.Violation, tt.wantViolation, v.Message)
			}
			if v.ResourceID != server || v.GrantID != guard.ChildVerdictGrant(fgID) {
				t.Errorf("verdict on %s grant %q, want the server with the failover group's grant", v.ResourceID, v.GrantID)
			}
			if v.Evidence["failoverGroup"] != fgID {
				t.Errorf("evidence %v", v.Evidence)
			}
			if v.Violation && (!strings.Contains(v.Message, "failover-group-secondary-server in ") || !strings.Contains(v.Action, "delete failover group failover-group-test")) {
				t.Errorf("message %q, action %q", v.Message, v.Action)
			}
		})
	}
	none := []func(map[string]any){
		func(m map[string]any) { m["properties"].(map[string]any)["partnerServers"] = []any{} },
		func(m map[string]any) {
			m["id"] = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Sql/failoverGroups/x"
		}, // no parent
	}
	for i, edit := range none {
		body := fixture(t, "sql_failover_group_get.json", edit)
		if vs := (SQLFailoverGroupReplication{}).Evaluate(guard.Input{Policy: polUS, Resource: resource(t, body), Now: testNow}); len(vs) != 0 {
			t.Errorf("case %d: got %+v, want no verdict", i, vs)
		}
	}
}

func TestSQLReplicationLinkReplication(t *testing.T) {
	linkID := "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/Default/providers/Microsoft.Sql/servers/sourcesvr/databases/gamma-db/replicationLinks/4891ca10-ebd0-47d7-9182-c722651780fb"
	database := "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/Default/providers/Microsoft.Sql/servers/sourcesvr/databases/gamma-db"
	at := func(loc string) func(map[string]any) {
		return func(m map[string]any) { set(m, "properties.partnerLocation", loc) }
	}
	tests := []struct {
		name          string
		edit          func(map[string]any)
		policy        *guard.Policy
		wantViolation bool
	}{
		{"spec: partner in Japan East, US policy", noEdit, polUS, true},
		{"spec: Japan allowed", noEdit, polJapan, false},
		{"partner in East US 2", at("East US 2"), polUS, false},
		{"Gov partner, Gov geography", at("US Gov Arizona"), polGov, false},
		{"Gov partner outside Virginia-only", at("US Gov Arizona"), polGovVA, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := fixture(t, "sql_replication_link_get.json", tt.edit)
			res := resource(t, body)
			if res.Type != TypeSQLReplicationLink {
				t.Fatalf("type %q: the spec body has none, the ID gives it", res.Type)
			}
			v := one(t, judge(t, SQLReplicationLinkReplication{}, tt.policy, body))
			if v.Violation != tt.wantViolation {
				t.Errorf("Violation = %v, want %v (%s)", v.Violation, tt.wantViolation, v.Message)
			}
			if v.ResourceID != database || v.GrantID != guard.ChildVerdictGrant(linkID) {
				t.Errorf("verdict on %s grant %q, want the database with the link's grant", v.ResourceID, v.GrantID)
			}
			if !strings.Contains(v.Message, "gamma-db on server testsvr") {
				t.Errorf("message %q", v.Message)
			}
			if v.Violation && !strings.Contains(v.Action, "delete replication link 4891ca10-ebd0-47d7-9182-c722651780fb") {
				t.Errorf("action %q", v.Action)
			}
		})
	}
	body := fixture(t, "sql_replication_link_get.json", func(m map[string]any) { delete(m, "properties") })
	if vs := (SQLReplicationLinkReplication{}).Evaluate(guard.Input{Policy: polUS, Resource: resource(t, body)}); len(vs) != 0 {
		t.Errorf("no properties: got %+v, want no verdict", vs)
	}
}
