package rules

import (
	"slices"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
)

// Every rule All returns is described, once, with what its finding means and
// the types it judges; nothing is described that All does not return; and
// the IDs are those the policy accepts (guard.RuleIDs).
func TestDescribeCoversEveryRule(t *testing.T) {
	known := []string{TypeStorageAccount, TypeCosmosAccount, TypeJITPolicy, guard.TypeDiagnosticSettings, TypeSQLServer, TypeDisk, TypeKeyVaultKey, TypeSQLFailoverGroup, TypeSQLReplicationLink,
		"Microsoft.Authorization/roleAssignments", "Microsoft.Authorization/roleAssignmentSchedules"}
	ds := Describe(known)
	var ids []string
	for _, d := range ds {
		if slices.Contains(ids, d.ID) {
			t.Errorf("%s described twice", d.ID)
		}
		ids = append(ids, d.ID)
		if d.Violation == "" || len(d.Types) == 0 {
			t.Errorf("%s: %+v: want what a finding means and the types it judges", d.ID, d)
		}
	}
	for _, r := range All() {
		if !slices.Contains(ids, r.ID()) {
			t.Errorf("rule %s (%T) is not described", r.ID(), r)
		}
	}
	for id := range about {
		if !slices.Contains(ids, id) {
			t.Errorf("%s is described but no rule has that ID", id)
		}
	}
	if !slices.Equal(slices.Sorted(slices.Values(ids)), slices.Sorted(slices.Values(guard.RuleIDs))) {
		t.Errorf("described %v, the policy's rule IDs are %v", ids, guard.RuleIDs)
	}
	for _, d := range ds {
		switch d.ID {
		case guard.RuleResidencyLocation:
			if !slices.Equal(d.Types, []string{AnyType}) {
				t.Errorf("%s judges %v, want every type", d.ID, d.Types)
			}
		case guard.RuleTransitTLS:
			if !slices.Equal(d.Types, []string{TypeStorageAccount, TypeCosmosAccount, TypeSQLServer}) {
				t.Errorf("%s judges %v, want storage, Cosmos DB and SQL servers in the order given", d.ID, d.Types)
			}
		}
	}
}
