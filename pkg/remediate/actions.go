package remediate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/exportguard/exportguard/pkg/guard"
)

// tagsSuffix is the path of a resource's tags (Microsoft.Resources/tags).
const tagsSuffix = "/providers/Microsoft.Resources/tags/default"

func isType(id, typ string) bool { return strings.EqualFold(guard.TypeOf(id), typ) }

// BuildAction decides what would fix the finding a transition opened. It looks
// at the rule, the finding's resource, the verdict's evidence and, for
// encryption.cmk, the state before. An action of type none says why nothing
// is done automatically.
func BuildAction(t guard.Transition) Action {
	f := t.Finding
	ev := t.Verdict.Evidence
	if ev == nil {
		ev = f.Evidence
	}
	none := func(reason string) Action {
		return Action{Type: ActionNone, Description: "no automatic remediation", Reason: reason}
	}
	if t.Resource != nil && t.Resource.FromEvent {
		// A plan rests on a state read from ARM, never on one an event carried
		// (DESIGN 3.6): the payload could say anything.
		return none("the finding opened on a state an event carried, not one read from ARM: nothing is planned from it (alert only)")
	}
	switch f.Rule {
	case guard.RuleResidencyReplication:
		switch {
		case isType(f.ResourceID, guard.TypeStorageAccount):
			return storageSKUAction(f.ResourceID, t.Resource, ev)
		case isType(f.ResourceID, guard.TypeCosmosAccount):
			return cosmosRegionsAction(f.ResourceID, t.Resource, ev)
		}
		var e struct {
			FailoverGroup   string `json:"failoverGroup"`
			ReplicationLink string `json:"replicationLink"`
			PartnerDatabase string `json:"partnerDatabaseId"`
		}
		evidence(ev, &e)
		switch {
		case e.FailoverGroup != "":
			return Action{Type: ActionSQLFailoverGroup,
				Description: "delete failover group " + lastSegment(e.FailoverGroup) + " (the geo-secondary databases on the partner server stay and must be deleted by a person)",
				Steps:       []Step{{Method: "DELETE", Target: e.FailoverGroup, Read: e.FailoverGroup}}}
		case e.ReplicationLink != "":
			d := "delete geo-replication link " + lastSegment(e.ReplicationLink) + " (stops replication"
			if e.PartnerDatabase != "" {
				d += "; the secondary database " + e.PartnerDatabase + " stays and must be deleted by a person"
			}
			return Action{Type: ActionSQLReplicationLink, Description: d + ")",
				Steps: []Step{{Method: "DELETE", Target: e.ReplicationLink, Read: e.ReplicationLink}}}
		}
		return none("no automatic remediation for replication of " + guard.TypeOf(f.ResourceID))
	case guard.RuleEncryptionCMK:
		if isType(f.ResourceID, guard.TypeStorageAccount) {
			return storageCMKAction(f.ResourceID, t.Previous)
		}
		return none("no automatic remediation for customer-managed keys of " + guard.TypeOf(f.ResourceID) + "; alert only")
	case guard.RuleTransitTLS:
		switch {
		case isType(f.ResourceID, guard.TypeStorageAccount):
			return tlsAction(ActionStorageTLS, f.ResourceID, t.Resource, "set minimumTlsVersion TLS1_2 and supportsHttpsTrafficOnly true")
		case isType(f.ResourceID, guard.TypeSQLServer):
			return tlsAction(ActionSQLTLS, f.ResourceID, t.Resource, "set minimalTlsVersion 1.2")
		case isType(f.ResourceID, guard.TypeCosmosAccount):
			return tlsAction(ActionCosmosTLS, f.ResourceID, t.Resource, "set minimalTlsVersion Tls12")
		}
		return none("no automatic remediation for TLS of " + guard.TypeOf(f.ResourceID))
	case guard.RuleJITOverstay:
		if isType(f.ResourceID, guard.TypeRoleAssignment) {
			var e struct {
				PrincipalID string `json:"principalId"`
			}
			evidence(ev, &e)
			return Action{Type: ActionRoleAssignmentDelete, PrincipalID: e.PrincipalID,
				Description: "delete role assignment " + lastSegment(f.ResourceID) + ", whose PIM schedule has ended",
				Steps:       []Step{{Method: "DELETE", Target: f.ResourceID, Read: f.ResourceID}}}
		}
		return jitAction(ev)
	case guard.RuleResidencyLocation:
		tags := map[string]string{TagViolation: guard.RuleResidencyLocation, TagFinding: f.ID}
		body, _ := json.Marshal(map[string]any{"operation": "Merge", "properties": map[string]any{"tags": tags}})
		return Action{Type: ActionTag, Tags: tags,
			Description: fmt.Sprintf("tag %s %s=%s (never deleted or moved automatically: a person decides)", lastSegment(f.ResourceID), TagViolation, guard.RuleResidencyLocation),
			Steps:       []Step{{Method: "PATCH", Target: strings.TrimRight(f.ResourceID, "/") + tagsSuffix, Read: f.ResourceID, Body: body}}}
	}
	return none("no automatic remediation for " + f.Rule)
}

// evidence reads evidence (as rules wrote it, or as a store gave it back) into v.
func evidence(ev map[string]any, v any) {
	b, err := json.Marshal(ev)
	if err == nil {
		_ = json.Unmarshal(b, v)
	}
}

func lastSegment(id string) string {
	id = strings.TrimRight(id, "/")
	return id[strings.LastIndex(id, "/")+1:]
}

// geoTwins maps a replicating storage redundancy to the one that keeps the same
// local or zonal redundancy in the primary region only.
var geoTwins = map[string]string{"grs": "LRS", "ragrs": "LRS", "gzrs": "ZRS", "ragzrs": "ZRS"}

func storageSKUAction(id string, res *guard.Resource, ev map[string]any) Action {
	var e struct {
		SKU string `json:"sku"`
	}
	evidence(ev, &e)
	from := e.SKU
	if res != nil && !res.Deleted {
		var b struct {
			SKU struct {
				Name string `json:"name"`
			} `json:"sku"`
		}
		if json.Unmarshal(res.Body, &b) == nil && b.SKU.Name != "" {
			from = b.SKU.Name
		}
	}
	tier, redundancy, _ := strings.Cut(from, "_")
	twin, ok := geoTwins[strings.ToLower(redundancy)]
	if !ok {
		return Action{Type: ActionNone, Description: "no automatic remediation", Reason: fmt.Sprintf("SKU %q has no non-replicating twin", from)}
	}
	to := tier + "_" + twin
	body, _ := json.Marshal(map[string]any{"sku": map[string]string{"name": to}})
	return Action{Type: ActionStorageSKU, FromSKU: from, ToSKU: to,
		Description: fmt.Sprintf("set the SKU of storage account %s from %s to %s (no copy in a secondary region)", lastSegment(id), from, to),
		Steps:       []Step{{Method: "PATCH", Target: id, Read: id, Body: body}}}
}

func cosmosRegionsAction(id string, res *guard.Resource, ev map[string]any) Action {
	var e struct {
		Outside      []string `json:"outsideRegions"`
		OutsideWrite []string `json:"outsideWriteRegions"`
	}
	evidence(ev, &e)
	if len(e.OutsideWrite) > 0 {
		return Action{Type: ActionNone, Description: "no automatic remediation",
			Reason: "the write region (" + strings.Join(e.OutsideWrite, ", ") + ") is outside the allowed set: failing it over is for a person"}
	}
	if len(e.Outside) == 0 {
		return Action{Type: ActionNone, Description: "no automatic remediation", Reason: "the finding names no region to remove"}
	}
	a := Action{Type: ActionCosmosRegions, RemoveRegions: e.Outside,
		Description: fmt.Sprintf("remove %s from the locations of Cosmos DB account %s", strings.Join(e.Outside, ", "), lastSegment(id)),
		Steps:       []Step{{Method: "PATCH", Target: id, Read: id}}}
	if res != nil && !res.Deleted {
		if st, body, _ := checkStep(a, a.Steps[0], res); st == stateNeeded {
			a.Steps[0].Body = body
		}
	}
	return a
}

func storageCMKAction(id string, prev *guard.Resource) Action {
	none := Action{Type: ActionNone, Description: "no automatic remediation",
		Reason: "no earlier customer-managed key of this account is known: nothing to restore (alert only)"}
	if prev == nil || prev.Deleted {
		return none
	}
	if prev.FromEvent {
		// The key restored is the one ARM last showed, never one an event
		// named (DESIGN 3.6): a payload could name any vault.
		none.Reason = "the account's earlier state was carried by an event, not read from ARM: its key is not restored (alert only)"
		return none
	}
	var b struct {
		Properties struct {
			Encryption struct {
				KeySource string `json:"keySource"`
				KV        *struct {
					KeyName     string `json:"keyname"`
					KeyVersion  string `json:"keyversion"`
					KeyVaultURI string `json:"keyvaulturi"`
				} `json:"keyvaultproperties"`
				Identity json.RawMessage `json:"identity"`
			} `json:"encryption"`
		} `json:"properties"`
	}
	if json.Unmarshal(prev.Body, &b) != nil {
		return none
	}
	enc := b.Properties.Encryption
	if !strings.EqualFold(strings.TrimSpace(enc.KeySource), "Microsoft.Keyvault") || enc.KV == nil || enc.KV.KeyName == "" || enc.KV.KeyVaultURI == "" {
		return none
	}
	e := map[string]any{"keySource": "Microsoft.Keyvault", "keyvaultproperties": map[string]string{
		"keyname": enc.KV.KeyName, "keyversion": enc.KV.KeyVersion, "keyvaulturi": enc.KV.KeyVaultURI}}
	if len(bytes.TrimSpace(enc.Identity)) > 0 && !bytes.Equal(bytes.TrimSpace(enc.Identity), []byte("null")) {
		e["identity"] = enc.Identity
	}
	body, _ := json.Marshal(map[string]any{"properties": map[string]any{"encryption": e}})
	return Action{Type: ActionStorageCMK,
		Description: fmt.Sprintf("restore customer-managed key %s from %s on storage account %s (its settings as last seen at %s)",
			enc.KV.KeyName, enc.KV.KeyVaultURI, lastSegment(id), prev.ObservedAt.UTC().Format("2006-01-02T15:04:05Z")),
		Steps: []Step{{Method: "PATCH", Target: id, Read: id, Body: body}}}
}

func tlsAction(typ, id string, res *guard.Resource, what string) Action {
	a := Action{Type: typ, Description: what + " on " + lastSegment(id), Steps: []Step{{Method: "PATCH", Target: id, Read: id}}}
	st, body, _ := checkStep(a, a.Steps[0], res)
	if st != stateNeeded {
		// Planned without a state to narrow it: the whole fix.
		_, body, _ = checkStep(a, a.Steps[0], &guard.Resource{ID: id, Body: []byte(`{"properties":{}}`)})
	}
	a.Steps[0].Body = body
	return a
}

func jitAction(ev map[string]any) Action {
	var e struct {
		OpenRules []struct {
			NSG     string `json:"nsgId"`
			RuleID  string `json:"ruleId"`
			Rule    string `json:"ruleName"`
			JITRule bool   `json:"jitRule"`
		} `json:"openRules"`
		NSG     string `json:"nsgId"`
		Rule    string `json:"ruleName"`
		RuleID  string `json:"ruleId"`
		JITRule bool   `json:"jitRule"`
	}
	evidence(ev, &e)
	if len(e.OpenRules) == 0 && e.NSG != "" {
		e.OpenRules = append(e.OpenRules, struct {
			NSG     string `json:"nsgId"`
			RuleID  string `json:"ruleId"`
			Rule    string `json:"ruleName"`
			JITRule bool   `json:"jitRule"`
		}{e.NSG, e.RuleID, e.Rule, e.JITRule})
	}
	var steps []Step
	var names, others []string
	seen := map[string]bool{}
	for _, r := range e.OpenRules {
		if r.NSG == "" || r.Rule == "" {
			continue
		}
		if !r.JITRule || !strings.HasPrefix(strings.ToLower(r.Rule), "securitycenter-jitrule") {
			others = append(others, r.Rule)
			continue
		}
		target := r.RuleID
		if target == "" {
			target = strings.TrimRight(r.NSG, "/") + "/securityRules/" + r.Rule
		}
		if seen[guard.IDKey(target)] {
			continue
		}
		seen[guard.IDKey(target)] = true
		steps = append(steps, Step{Method: "DELETE", Target: target, Read: r.NSG, Name: r.Rule})
		names = append(names, r.Rule+" in "+lastSegment(r.NSG))
	}
	if len(steps) == 0 {
		reason := "no NSG rule that JIT made is named as still open"
		if len(others) > 0 {
			reason = "the rule(s) still open (" + strings.Join(others, ", ") + ") were not made by JIT: a person decides"
		}
		return Action{Type: ActionNone, Description: "no automatic remediation", Reason: reason}
	}
	return Action{Type: ActionJITRule, Description: "remove the JIT allow rule(s) that outlived their window: " + strings.Join(names, ", "), Steps: steps}
}

// Step states, as the executor finds the live resource.
const (
	stateNeeded  = "needed"  // still violating as planned: write
	stateDone    = "done"    // already in the desired state (or gone): nothing to write
	stateChanged = "changed" // changed otherwise since the plan: do not act on it
)

// checkStep looks at the live state of a step's Read resource (nil when ARM
// answered 404) and says whether the step is needed, with the body to send.
func checkStep(a Action, s Step, cur *guard.Resource) (state string, body []byte, why string) {
	gone := cur == nil || cur.Deleted
	var doc map[string]any
	if !gone {
		dec := json.NewDecoder(bytes.NewReader(cur.Body))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil || doc == nil {
			return stateChanged, nil, "the resource's body could not be read"
		}
	}
	props, _ := doc["properties"].(map[string]any)
	str := func(m map[string]any, k string) string {
		for key, v := range m {
			if strings.EqualFold(key, k) {
				s, _ := v.(string)
				return strings.TrimSpace(s)
			}
		}
		return ""
	}
	switch a.Type {
	case ActionStorageSKU:
		if gone {
			return stateDone, nil, "the storage account is gone"
		}
		sku, _ := doc["sku"].(map[string]any)
		name := str(sku, "name")
		switch {
		case strings.EqualFold(name, a.ToSKU):
			return stateDone, nil, "the SKU is already " + name
		case strings.EqualFold(name, a.FromSKU):
			return stateNeeded, s.Body, ""
		}
		return stateChanged, nil, fmt.Sprintf("the SKU is %s now, not the %s the plan was made for", name, a.FromSKU)
	case ActionStorageCMK:
		if gone {
			return stateDone, nil, "the storage account is gone"
		}
		enc, _ := props["encryption"].(map[string]any)
		if strings.EqualFold(str(enc, "keySource"), "Microsoft.Keyvault") {
			return stateDone, nil, "the account already encrypts with a Key Vault key"
		}
		return stateNeeded, s.Body, ""
	case ActionStorageTLS:
		if gone {
			return stateDone, nil, "the storage account is gone"
		}
		fix := map[string]any{}
		if v := strings.ToUpper(str(props, "minimumTlsVersion")); v != "TLS1_2" && v != "TLS1_3" {
			fix["minimumTlsVersion"] = "TLS1_2"
		}
		if h, ok := props["supportsHttpsTrafficOnly"]; ok && (h == false || h == "false" || h == json.Number("0")) {
			fix["supportsHttpsTrafficOnly"] = true
		}
		if len(fix) == 0 {
			return stateDone, nil, "the account already requires HTTPS with TLS 1.2 or later"
		}
		body, _ := json.Marshal(map[string]any{"properties": fix})
		return stateNeeded, body, ""
	case ActionSQLTLS:
		if gone {
			return stateDone, nil, "the SQL server is gone"
		}
		if v := str(props, "minimalTlsVersion"); v == "1.2" || v == "1.3" {
			return stateDone, nil, "minimalTlsVersion is already " + v
		}
		return stateNeeded, []byte(`{"properties":{"minimalTlsVersion":"1.2"}}`), ""
	case ActionCosmosTLS:
		if gone {
			return stateDone, nil, "the Cosmos DB account is gone"
		}
		if v := strings.ToLower(str(props, "minimalTlsVersion")); v == "" || v == "tls12" || v == "tls13" {
			return stateDone, nil, "minimalTlsVersion is already TLS 1.2 or later"
		}
		return stateNeeded, []byte(`{"properties":{"minimalTlsVersion":"Tls12"}}`), ""
	case ActionCosmosRegions:
		if gone {
			return stateDone, nil, "the Cosmos DB account is gone"
		}
		return cosmosRegionsCheck(a, props)
	case ActionSQLFailoverGroup, ActionSQLReplicationLink:
		if gone {
			return stateDone, nil, "already deleted"
		}
		return stateNeeded, nil, ""
	case ActionRoleAssignmentDelete:
		if gone {
			return stateDone, nil, "the role assignment is already gone"
		}
		if a.PrincipalID != "" && !sameObjectID(str(props, "principalId"), a.PrincipalID) {
			return stateChanged, nil, "the role assignment now belongs to principal " + str(props, "principalId")
		}
		return stateNeeded, nil, ""
	case ActionJITRule:
		if gone {
			return stateDone, nil, "the network security group is gone"
		}
		rules, _ := props["securityRules"].([]any)
		for _, r := range rules {
			rm, _ := r.(map[string]any)
			if !strings.EqualFold(str(rm, "name"), s.Name) {
				continue
			}
			rp, _ := rm["properties"].(map[string]any)
			if !strings.EqualFold(str(rp, "access"), "Allow") {
				return stateChanged, nil, "rule " + s.Name + " no longer allows traffic"
			}
			return stateNeeded, nil, ""
		}
		return stateDone, nil, "rule " + s.Name + " is already gone"
	case ActionTag:
		if gone {
			return stateDone, nil, "the resource is gone: nothing to tag"
		}
		tags, _ := doc["tags"].(map[string]any)
		for k, v := range a.Tags {
			if str(tags, k) != v {
				return stateNeeded, s.Body, ""
			}
		}
		return stateDone, nil, "the resource is already tagged"
	}
	return stateChanged, nil, "unknown action type " + a.Type
}

func sameObjectID(a, b string) bool {
	n := func(s string) string {
		return strings.ReplaceAll(strings.ToLower(strings.Trim(strings.TrimSpace(s), "{}")), "-", "")
	}
	return n(a) == n(b)
}

// regionKey compares region names as Cosmos DB and ARM write them ("East US", "eastus").
func regionKey(s string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
}

func cosmosRegionsCheck(a Action, props map[string]any) (string, []byte, string) {
	remove := map[string]bool{}
	for _, r := range a.RemoveRegions {
		remove[regionKey(r)] = true
	}
	locs, _ := props["locations"].([]any)
	type loc struct {
		name     string
		priority float64
		zone     any
	}
	var keep []loc
	removed := 0
	for _, l := range locs {
		m, _ := l.(map[string]any)
		name, _ := m["locationName"].(string)
		var prio float64
		if n, ok := m["failoverPriority"].(json.Number); ok {
			prio, _ = n.Float64()
		}
		if remove[regionKey(name)] {
			if prio == 0 {
				return stateChanged, nil, name + " is now the account's write region"
			}
			removed++
			continue
		}
		keep = append(keep, loc{name, prio, m["isZoneRedundant"]})
	}
	if removed == 0 {
		return stateDone, nil, "none of " + strings.Join(a.RemoveRegions, ", ") + " is among the account's locations"
	}
	if len(keep) == 0 {
		return stateChanged, nil, "no region would be left"
	}
	sort.SliceStable(keep, func(i, j int) bool { return keep[i].priority < keep[j].priority })
	out := make([]map[string]any, 0, len(keep))
	for i, l := range keep {
		m := map[string]any{"locationName": l.name, "failoverPriority": i}
		if l.zone != nil {
			m["isZoneRedundant"] = l.zone
		}
		out = append(out, m)
	}
	body, _ := json.Marshal(map[string]any{"properties": map[string]any{"locations": out}})
	return stateNeeded, body, ""
}
