package rules

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// account returns the spec's storage account GET body with the given SKU and
// locations ("" removes secondaryLocation).
func account(t *testing.T, sku, primary, secondary string) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/storage_account_get.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if sku == "verbatim" {
		return raw
	}
	m["sku"].(map[string]any)["name"] = sku
	m["location"] = primary
	props := m["properties"].(map[string]any)
	props["primaryLocation"] = primary
	if secondary == "" {
		delete(props, "secondaryLocation")
	} else {
		props["secondaryLocation"] = secondary
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStorageReplication(t *testing.T) {
	us := &guard.Policy{AllowedGeographies: []string{"United States"}}
	gov := &guard.Policy{Cloud: "AzureUSGovernment", AllowedRegions: []string{"usgovvirginia"}}
	govPair := &guard.Policy{Cloud: "AzureUSGovernment", AllowedRegions: []string{"usgovvirginia", "usgovtexas"}}
	govGeo := &guard.Policy{Cloud: "AzureUSGovernment", AllowedGeographies: []string{"US Government"}}
	brazil := &guard.Policy{AllowedGeographies: []string{"Brazil"}}
	tests := []struct {
		name                      string
		policy                    *guard.Policy
		sku, primary, secondary   string
		wantViolation             bool
		wantSecondary, wantAction string
	}{
		{"GRS inside the US", us, "Standard_GRS", "eastus", "westus", false, "westus", ""},
		{"RA-GRS in Europe", us, "Standard_RAGRS", "westeurope", "northeurope", true, "northeurope", "set sku.name to Standard_LRS"},
		{"RA-GZRS leaves the US", us, "Standard_RAGZRS", "eastus2", "westeurope", true, "westeurope", "set sku.name to Standard_ZRS"},
		{"LRS stays put", us, "Standard_LRS", "westeurope", "", false, "", ""},
		{"ZRS premium stays put", us, "Premium_ZRS", "westeurope", "", false, "", ""},
		{"no secondaryLocation: pair table", us, "Standard_GRS", "eastus", "", false, "westus", ""},
		{"one-way pair leaves Brazil", brazil, "Standard_GRS", "brazilsouth", "", true, "southcentralus", "set sku.name to Standard_LRS"},
		{"display-name secondary", us, "Standard_GRS", "East US", "West US", false, "West US", ""},
		{"Gov secondary outside allowed regions", gov, "Standard_GRS", "usgovvirginia", "usgovtexas", true, "usgovtexas", "set sku.name to Standard_LRS"},
		{"Gov pair allowed by region", govPair, "Standard_GRS", "usgovvirginia", "usgovtexas", false, "usgovtexas", ""},
		{"Gov pair allowed by geography", govGeo, "Standard_GZRS", "usgovtexas", "", false, "usgovarizona", ""},
		{"unpaired region: secondary unknown", us, "Standard_GRS", "italynorth", "", true, "", "set sku.name to Standard_LRS"},
		{"spec example: (stage) region is unknown", us, "verbatim", "", "", true, "northcentralus(stage)", "set sku.name to Standard_LRS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := account(t, tt.sku, tt.primary, tt.secondary)
			res, err := guard.NewResource(body, time.Unix(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			vs := StorageReplication{}.Evaluate(guard.Input{Policy: tt.policy, Resource: res, Now: time.Unix(0, 0)})
			if len(vs) != 1 {
				t.Fatalf("got %d verdicts, want 1: %+v", len(vs), vs)
			}
			v := vs[0]
			if v.Violation != tt.wantViolation {
				t.Errorf("Violation = %v, want %v (%s)", v.Violation, tt.wantViolation, v.Message)
			}
			if v.Rule != guard.RuleResidencyReplication || !guard.SameID(v.ResourceID, res.ID) {
				t.Errorf("verdict names %s on %s, want residency.replication on %s", v.Rule, v.ResourceID, res.ID)
			}
			if got, _ := v.Evidence["secondaryLocation"].(string); tt.wantSecondary != "" && got != tt.wantSecondary {
				t.Errorf("evidence secondaryLocation = %q, want %q", got, tt.wantSecondary)
			}
			if v.Action != tt.wantAction {
				t.Errorf("Action = %q, want %q", v.Action, tt.wantAction)
			}
			if v.Violation && !strings.Contains(v.Message, "sto8596") {
				t.Errorf("message %q does not name the account", v.Message)
			}
		})
	}
}

func TestStorageReplicationIgnoresWhatItCannotRead(t *testing.T) {
	for _, body := range []string{`{}`, `{"id":"x","sku":null}`, `[1,2]`, `not json`} {
		res := &guard.Resource{ID: "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/a", Body: json.RawMessage(body)}
		if vs := (StorageReplication{}).Evaluate(guard.Input{Policy: &guard.Policy{}, Resource: res}); len(vs) != 0 {
			t.Errorf("body %s: got %d verdicts, want none", body, len(vs))
		}
	}
}

// A state that names no SKU: the spec's Resource Notifications example
// (testdata/storage_account_notification.json, data.resourceInfo of
// Resources_StorageAccount_CreatedOrUpdated.json: eastus, secondaryLocation
// westus, no sku) and Resource Graph rows (the Resources table's type is lower
// case and its sku column may be empty) are judged by secondaryLocation, which
// ARM writes only for a geo-replicated account.
func TestStorageReplicationWithoutSKU(t *testing.T) {
	eastOnly := &guard.Policy{AllowedRegions: []string{"eastus"}}
	graphRow := func(m map[string]any) { // the spec's GET example as a Resource Graph row
		delete(m, "sku")
		m["type"] = "microsoft.storage/storageaccounts"
		m["location"], m["subscriptionId"], m["resourceGroup"] = "eastus", "{subscription-id}", "res9407"
		set(m, "properties.primaryLocation", "eastus")
		set(m, "properties.secondaryLocation", "westeurope")
	}
	tests := []struct {
		name, file    string
		edit          func(map[string]any)
		policy        *guard.Policy
		wantVerdict   bool
		wantViolation bool
		wantMessage   string
		wantSecondary any
		wantGeography any
	}{
		{"notification, secondary inside the US", "storage_account_notification.json", noEdit, polUS, true, false,
			"Storage account StorageAccount-name replicates to West US, inside the allowed set.", "westus", "United States"},
		{"notification, secondary outside an East US-only policy", "storage_account_notification.json", noEdit, eastOnly, true, true,
			"Storage account StorageAccount-name replicates to West US, outside the allowed regions eastus.", "westus", "United States"},
		{"notification of a locally redundant account", "storage_account_notification.json",
			func(m map[string]any) { set(m, "properties.secondaryLocation", dropField) }, eastOnly, true, false,
			"Storage account StorageAccount-name keeps its data in its primary region (East US): its state names no secondaryLocation.", "(absent)", nil},
		{"Resource Graph row replicating to Europe", "storage_account_get.json", graphRow, polUS, true, true,
			"Storage account sto8596 replicates to West Europe, outside the allowed geographies United States.", "westeurope", "Europe"},
		{"notification without location properties: no verdict", "storage_account_notification.json", func(m map[string]any) {
			set(m, "properties.secondaryLocation", dropField)
			set(m, "properties.primaryLocation", dropField)
		}, polUS, false, false, "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := judge(t, StorageReplication{}, tt.policy, fixture(t, tt.file, tt.edit))
			if !tt.wantVerdict {
				if len(vs) != 0 {
					t.Fatalf("got %+v, want no verdict", vs)
				}
				return
			}
			v := one(t, vs)
			if v.Violation != tt.wantViolation || v.Message != tt.wantMessage {
				t.Errorf("verdict violation=%v %q\nwant violation=%v %q", v.Violation, v.Message, tt.wantViolation, tt.wantMessage)
			}
			if v.Evidence["secondaryLocation"] != tt.wantSecondary || v.Evidence["secondaryGeography"] != tt.wantGeography {
				t.Errorf("evidence %v, want secondaryLocation %v in %v", v.Evidence, tt.wantSecondary, tt.wantGeography)
			}
			if _, ok := v.Evidence["sku"]; ok {
				t.Errorf("evidence names a SKU the state does not have: %v", v.Evidence)
			}
		})
	}
}
