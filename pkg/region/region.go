// Package region knows Azure's regions in the public and Government clouds: their
// programmatic and display names, geography and paired region. Residency rules
// need it when a resource names a region by display name ("East US", as Cosmos DB
// does) or omits its replica region.
//
// regions.json is copied from the team's research note (research/regions.json),
// which cites Microsoft's region list (learn.microsoft.com/azure/reliability/regions-list,
// 2025-09-23), its pair table (regions-paired, 2025-03-19) and, for Azure Government,
// cross-region-replication-azure (2022-12-12) and the storage GRS table (2018).
// Pairs are directional: westus3 pairs one way with eastus.
//
// Four public regions that real payloads carry were added after that copy, so
// regions.json is no longer identical to the research note:
//   - eastus2euap and centraluseuap, the EUAP (early update access) canaries, paired
//     with each other. ARM's Locations API lists them in geographyGroup US, physically
//     at East US 2's and Central US's coordinates, with geography "Canary (US)"; they
//     are recorded here in the United States, which is where their data lives
//     (Azure/terraform-azurerm-avm-utl-regions, modules/cached-data/locations.tf.json,
//     a cached `az account list-locations` answer).
//   - taiwannorth and taiwannorthwest ("(Asia Pacific) Taiwan North", "… Taiwan
//     Northwest" in `az account list-locations`; ARM's logical location taiwan is
//     their geography; the Cosmos DB SDK added both in 2024, azure-cosmos-dotnet-v3
//     PR 4386). No pair is published for them, so Pair answers "" and a
//     geo-replicated account there is judged as replicating to an unknown region.
package region

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
)

// Region is one Azure region.
type Region struct {
	Name        string `json:"name"`        // programmatic name, e.g. usgovvirginia
	DisplayName string `json:"displayName"` // e.g. US Gov Virginia
	Geography   string `json:"geography"`   // e.g. United States, US Government
	Cloud       string `json:"cloud"`       // AzurePublic or AzureUSGovernment
	Paired      string `json:"pairedRegion"`
}

//go:embed regions.json
var regionsJSON []byte

var byName = func() map[string]Region {
	var list []Region
	if err := json.Unmarshal(regionsJSON, &list); err != nil {
		panic(fmt.Sprintf("region: embedded regions.json: %v", err)) // a build defect, not input
	}
	m := make(map[string]Region, 2*len(list))
	for _, r := range list {
		m[r.Name] = r
	}
	return m
}()

// Normalize turns a region as ARM writes it ("East US", "eastus", "EASTUS") into
// its programmatic name: every Azure display name is its programmatic name with
// capitals and spaces ("US Gov Virginia", usgovvirginia).
func Normalize(name string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(name), " ", ""))
}

// Lookup finds a region by programmatic or display name.
func Lookup(name string) (Region, bool) {
	r, ok := byName[Normalize(name)]
	return r, ok
}

// Pair returns the region that the given region replicates to by default (its
// paired region, in that direction), or "" when it has none or is unknown.
func Pair(name string) string {
	return byName[Normalize(name)].Paired
}

// All returns every known region, in no particular order.
func All() []Region {
	out := make([]Region, 0, len(byName))
	for _, r := range byName {
		out = append(out, r)
	}
	return out
}
