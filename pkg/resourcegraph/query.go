package resourcegraph

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// subscriptionType is the type of a subscription's own row in ResourceContainers.
const subscriptionType = "microsoft.resources/subscriptions"

// columns are what the query projects: the members of an ARM GET body, and the
// subscription a row belongs to. The id column is also what paging needs: "The
// query must project the id field in order for pagination to work"
// (https://learn.microsoft.com/azure/governance/resource-graph/concepts/work-with-data#paging-results).
const columns = "id, name, type, location, kind, sku, identity, tags, properties, managedBy, plan, zones, extendedLocation, subscriptionId"

// tables says which Resource Graph table holds a type, for the types the rules
// judge that are not in the default Resources table; "" marks a type in no
// table. Types not listed here are looked for in Resources, where most ARM
// types are. From "Azure Resource Graph table and resource type reference"
// (https://learn.microsoft.com/azure/governance/resource-graph/reference/supported-tables-resources):
// Resources lists microsoft.sql/servers and microsoft.sql/servers/databases
// but no other SQL child, microsoft.storage/storageaccounts but not its
// blobservices, microsoft.keyvault/vaults but not its keys, and
// microsoft.network/virtualnetworks but not its subnets (a virtual network's
// row carries them in properties.subnets); AuthorizationResources holds
// roleassignments and roledefinitions only; SecurityResources has no
// jitnetworkaccesspolicies.
var tables = map[string]string{
	"microsoft.authorization/roleassignments":                 "authorizationresources",
	"microsoft.authorization/roleassignmentschedules":         "",
	"microsoft.authorization/roleassignmentschedulerequests":  "",
	"microsoft.authorization/roleassignmentscheduleinstances": "",
	"microsoft.sql/servers/encryptionprotector":               "",
	"microsoft.sql/servers/failovergroups":                    "",
	"microsoft.sql/servers/databases/replicationlinks":        "",
	"microsoft.storage/storageaccounts/blobservices":          "",
	"microsoft.keyvault/vaults/keys":                          "",
	"microsoft.security/locations/jitnetworkaccesspolicies":   "",
	"microsoft.network/virtualnetworks/subnets":               "",
}

// AllTypes, given as a type, asks for every resource in the Resources table:
// what the residency rule judges, which applies to every type.
const AllTypes = "*"

// typePattern is what a resource type looks like: a namespace and one or more
// type names. Anything else is refused before it reaches the query text.
var typePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*(/[a-z0-9][a-z0-9_-]*)+$`)

// guidPattern is a subscription ID.
var guidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// tableQuery is one query of a scan: the types it asks one table for.
type tableQuery struct {
	table string
	types []string // lower-case, sorted; nil with all set
	all   bool     // every type in the table
}

// text is the query sent for tq. The Resources query also asks for the
// subscriptions' own rows (a union with ResourceContainers, the one cross-table
// union Resource Graph allows: https://learn.microsoft.com/azure/governance/resource-graph/concepts/query-language#supported-tabulartop-level-operators),
// which tell which subscriptions Resource Graph showed.
func (tq tableQuery) text() string {
	if tq.table == "resources" && !tq.all && len(tq.types) == 0 {
		// Nothing to ask Resources for: the query lists the subscriptions only.
		return "resourcecontainers | where type =~ '" + subscriptionType + "' | project " + columns
	}
	var b strings.Builder
	b.WriteString(tq.table)
	if !tq.all {
		b.WriteString(" | where type in~ (")
		for i, t := range tq.types {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("'" + t + "'")
		}
		b.WriteString(")")
	}
	if tq.table == "resources" {
		b.WriteString(" | union (resourcecontainers | where type =~ '" + subscriptionType + "')")
	}
	b.WriteString(" | project " + columns)
	return b.String()
}

// plan groups the asked types by table: one query per table, the Resources one
// always (it also lists the subscriptions), and the types no table holds.
func plan(types []string) (qs []tableQuery, notInGraph []string, err error) {
	byTable := map[string][]string{}
	all := false
	for _, t := range types {
		lt := strings.ToLower(strings.TrimSpace(t))
		if lt == AllTypes {
			all = true
			continue
		}
		if !typePattern.MatchString(lt) {
			return nil, nil, fmt.Errorf("resourcegraph: %q is not a resource type", t)
		}
		table, known := tables[lt]
		switch {
		case !known:
			table = "resources"
		case table == "":
			if !slices.Contains(notInGraph, lt) {
				notInGraph = append(notInGraph, lt)
			}
			continue
		}
		if !slices.Contains(byTable[table], lt) {
			byTable[table] = append(byTable[table], lt)
		}
	}
	res := tableQuery{table: "resources", all: all}
	if !all {
		res.types = byTable["resources"]
		slices.Sort(res.types)
	}
	qs = append(qs, res)
	for _, table := range sortedKeys(byTable) {
		if table == "resources" {
			continue
		}
		ts := byTable[table]
		slices.Sort(ts)
		qs = append(qs, tableQuery{table: table, types: ts})
	}
	slices.Sort(notInGraph)
	return qs, notInGraph, nil
}

func sortedKeys(m map[string][]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// subscriptionsOf checks and normalises the subscriptions to scan: GUIDs, lower
// case, each once, in the order given.
func subscriptionsOf(subs []string) ([]string, error) {
	if len(subs) == 0 {
		return nil, fmt.Errorf("resourcegraph: no subscription to scan")
	}
	out := make([]string, 0, len(subs))
	seen := map[string]bool{}
	for _, s := range subs {
		ls := strings.ToLower(strings.TrimSpace(s))
		if !guidPattern.MatchString(ls) {
			return nil, fmt.Errorf("resourcegraph: subscription %q is not a subscription ID (a GUID)", s)
		}
		if !seen[ls] {
			seen[ls] = true
			out = append(out, ls)
		}
	}
	return out, nil
}
