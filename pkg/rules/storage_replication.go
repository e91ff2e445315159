package rules

import (
	"fmt"
	"strings"

	"github.com/exportguard/exportguard/internal/fastjson"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/region"
)

// TypeStorageAccount is the ARM type of a storage account.
const TypeStorageAccount = guard.TypeStorageAccount

// StorageReplication is residency.replication for storage accounts: an account
// whose SKU replicates to a secondary region (GRS, RA-GRS, GZRS, RA-GZRS) must
// have that secondary inside the allowed set.
//
// The secondary is the account's own properties.secondaryLocation, which ARM
// returns for geo-replicated accounts (research §4.1, S11); only when it is
// absent does the rule fall back to the paired region of the primary, since
// GRS replicates to the pair (research §5.2, S18/S21).
//
// A state that names no SKU (a Resource Notifications payload, as in the spec's
// Resources_StorageAccount_CreatedOrUpdated.json example, or a Resource Graph
// row) is judged by secondaryLocation alone: see judgeWithoutSKU.
type StorageReplication struct{}

func (StorageReplication) ID() string { return guard.RuleResidencyReplication }

func (StorageReplication) Applies(t string) bool { return strings.EqualFold(t, TypeStorageAccount) }

type storageAccount struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Location string `json:"location"`
	SKU      struct {
		Name string `json:"name"`
	} `json:"sku"`
	Properties struct {
		PrimaryLocation   string `json:"primaryLocation"`
		SecondaryLocation string `json:"secondaryLocation"`
	} `json:"properties"`
}

// geoSKUs are the replication suffixes of SKUs that keep a copy in a secondary
// region (armstorage SkuName, research §4.1, S12), mapped to the SKU that keeps
// the same local or zonal redundancy in the primary region only.
var geoSKUs = map[string]string{"grs": "LRS", "ragrs": "LRS", "gzrs": "ZRS", "ragzrs": "ZRS"}

func (StorageReplication) Evaluate(in guard.Input) []guard.Verdict {
	var a storageAccount
	if err := fastjson.Unmarshal(in.Resource.Body, &a); err != nil {
		return nil // not a storage account body we can judge
	}
	if a.SKU.Name == "" {
		return judgeWithoutSKU(in, a)
	}
	id := in.Resource.ID
	tier, redundancy, _ := strings.Cut(a.SKU.Name, "_")
	localSKU, geo := geoSKUs[strings.ToLower(redundancy)]
	if !geo {
		return []guard.Verdict{{Rule: guard.RuleResidencyReplication, ResourceID: id,
			Message:  fmt.Sprintf("Storage account %s keeps its data in its primary region (%s).", a.Name, a.SKU.Name),
			Evidence: map[string]any{"sku": a.SKU.Name}}}
	}
	primary := firstNonEmpty(a.Properties.PrimaryLocation, a.Location)
	secondary, from := a.Properties.SecondaryLocation, "properties.secondaryLocation"
	if secondary == "" {
		secondary, from = region.Pair(primary), "paired region of "+region.Normalize(primary)
	}
	evidence := map[string]any{"sku": a.SKU.Name, "primaryLocation": primary,
		"secondaryLocation": secondary, "secondaryFrom": from, "allowed": in.Policy.AllowedSummary()}
	if r, ok := region.Lookup(secondary); ok {
		evidence["secondaryGeography"] = r.Geography
	}
	action := "set sku.name to " + tier + "_" + localSKU
	switch {
	case secondary == "":
		return []guard.Verdict{{Rule: guard.RuleResidencyReplication, ResourceID: id, Violation: true, Evidence: evidence, Action: action,
			Message: fmt.Sprintf("Storage account %s replicates (%s) to a secondary region that could not be determined.", a.Name, a.SKU.Name)}}
	case in.Policy.RegionAllowed(secondary):
		return []guard.Verdict{{Rule: guard.RuleResidencyReplication, ResourceID: id, Evidence: evidence,
			Message: fmt.Sprintf("Storage account %s replicates (%s) to %s, inside the allowed set.", a.Name, a.SKU.Name, secondary)}}
	}
	return []guard.Verdict{{Rule: guard.RuleResidencyReplication, ResourceID: id, Violation: true, Evidence: evidence, Action: action,
		Message: fmt.Sprintf("Storage account %s replicates (%s) to %s, outside the allowed %s.", a.Name, a.SKU.Name, secondary, in.Policy.AllowedSummary())}}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// judgeWithoutSKU judges an account whose state names no SKU. ARM writes
// properties.secondaryLocation only for a geo-replicated account ("Gets the
// location of the geo-replicated secondary for the storage account. Only
// available if the accountType is Standard_GRS or Standard_RAGRS.",
// StorageAccountProperties in Azure/azure-rest-api-specs
// specification/storage/resource-manager/Microsoft.Storage/stable/*/storage.json,
// written before GZRS), so its presence says the
// account replicates and names where. Without it, the state still says
// where the account keeps its data when it names properties.primaryLocation:
// there only. Without either, nothing is known and there is no verdict.
//
// Such a state came with an event (or a Resource Graph row): its verdict may
// open a finding; a compliant one only leads to an ARM read before anything
// resolves (DESIGN 3.6, guard.Resource.FromEvent). The action names no exact
// SKU: the tier is not in the state, and remediation reads it from ARM.
func judgeWithoutSKU(in guard.Input, a storageAccount) []guard.Verdict {
	id := in.Resource.ID
	name := firstNonEmpty(a.Name, nameOf(id))
	primary := firstNonEmpty(a.Properties.PrimaryLocation, a.Location)
	secondary := strings.TrimSpace(a.Properties.SecondaryLocation)
	if secondary == "" {
		if strings.TrimSpace(a.Properties.PrimaryLocation) == "" {
			return nil
		}
		return []guard.Verdict{{Rule: guard.RuleResidencyReplication, ResourceID: id,
			Message:  fmt.Sprintf("Storage account %s keeps its data in its primary region (%s): its state names no secondaryLocation.", name, regionLabel(primary)),
			Evidence: map[string]any{"primaryLocation": primary, "secondaryLocation": "(absent)"}}}
	}
	evidence := map[string]any{"primaryLocation": primary, "secondaryLocation": secondary,
		"secondaryFrom": "properties.secondaryLocation", "secondaryGeography": geographyOf(secondary), "allowed": in.Policy.AllowedSummary()}
	if in.Policy.RegionAllowed(secondary) {
		return []guard.Verdict{{Rule: guard.RuleResidencyReplication, ResourceID: id, Evidence: evidence,
			Message: fmt.Sprintf("Storage account %s replicates to %s, inside the allowed set.", name, regionLabel(secondary))}}
	}
	return []guard.Verdict{{Rule: guard.RuleResidencyReplication, ResourceID: id, Violation: true, Evidence: evidence,
		Action:  "set sku.name to Standard_LRS or Standard_ZRS (the one with the account's local or zonal redundancy)",
		Message: fmt.Sprintf("Storage account %s replicates to %s, outside the allowed %s.", name, regionLabel(secondary), in.Policy.AllowedSummary())}}
}
