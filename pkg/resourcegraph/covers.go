package resourcegraph

import "strings"

// Covers reports whether a Scan for types lists the resources of type typ:
// whether a resource of that type that a complete scan did not list is gone
// from Resource Graph (or never was in it). A type in no table, or in a table
// the scan does not ask, is not covered: its absence from a scan says nothing.
func Covers(types []string, typ string) bool {
	lt := strings.ToLower(strings.TrimSpace(typ))
	if !typePattern.MatchString(lt) || lt == subscriptionType {
		return false
	}
	qs, _, err := plan(types)
	if err != nil {
		return false
	}
	table, known := tables[lt]
	if !known {
		table = "resources"
	}
	for _, q := range qs {
		if q.table != table {
			continue
		}
		if q.all {
			return true
		}
		for _, t := range q.types {
			if t == lt {
				return true
			}
		}
	}
	return false
}
