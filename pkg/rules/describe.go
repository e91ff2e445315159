package rules

import (
	"slices"

	"github.com/exportguard/exportguard/pkg/guard"
)

// Description says what one rule judges, for people (`exportguard rules`).
// Its ID and types come from the rules All returns, so a rule added there is
// described without anything else to keep in step; what a finding means and
// which policy keys beyond the rule's own it reads are written here, next to
// the rules, and a test refuses a rule without them.
type Description struct {
	ID string
	// Violation is what a finding of the rule means (DESIGN 3.3).
	Violation string
	// Types are the resource types of those given to Describe that the rule
	// judges, in their order; AnyType alone when it judges every type.
	Types []string
	// PolicyKeys are the policy keys outside rules.<ID> the rule reads.
	PolicyKeys []string
}

// AnyType stands for every resource type in Description.Types.
const AnyType = "*"

// anyTypeProbe is a type no rule names: a rule that applies to it applies to
// every type (residency.location).
const anyTypeProbe = "Microsoft.ExportGuardProbe/anyType"

// about is what cannot be read off a rule's code: what its finding means,
// and the policy keys outside rules.<ID> it reads.
var about = map[string]struct {
	violation  string
	policyKeys []string
}{
	guard.RuleResidencyLocation: {"a resource in a region outside the allowed set",
		[]string{"allowedRegions", "allowedGeographies"}},
	guard.RuleResidencyReplication: {"data replicated to a region outside the allowed set (storage GRS secondaries, Cosmos DB locations, SQL geo-replicas and failover-group partners)",
		[]string{"allowedRegions", "allowedGeographies"}},
	guard.RuleEncryptionCMK: {"a customer-managed key required but absent or off (storage, SQL TDE, disks), or the Key Vault key behind one disabled or expired",
		nil},
	guard.RuleTransitTLS: {"a minimum TLS version below 1.2, or HTTPS-only off",
		nil},
	guard.RuleJITOverstay: {"a just-in-time grant (Defender JIT, PIM) still usable after its window ended",
		nil},
	guard.RuleJITWindow: {"a just-in-time grant requested for longer than the policy allows, or a JIT policy port that lets one be",
		nil},
	guard.RuleUnscreenedPrincipal: {"access granted to a principal not on the screened-persons roster",
		[]string{"roster"}},
	guard.RuleMonitoringActivityLog: {"a subscription in scope whose Activity Log no longer reaches the guard's hub, or that has gone silent",
		[]string{"scope.subscriptions"}},
}

// Describe describes every rule All returns, one per ID in the order All
// first names them, with the types of known (e.g. the types ARM reads) that
// its implementations judge.
func Describe(known []string) []Description {
	var out []Description
	at := map[string]int{}
	for _, r := range All() {
		i, ok := at[r.ID()]
		if !ok {
			i = len(out)
			at[r.ID()] = i
			a := about[r.ID()]
			out = append(out, Description{ID: r.ID(), Violation: a.violation, PolicyKeys: a.policyKeys})
		}
		d := &out[i]
		if r.Applies(anyTypeProbe) {
			d.Types = []string{AnyType}
			continue
		}
		if slices.Contains(d.Types, AnyType) {
			continue
		}
		for _, t := range known {
			if r.Applies(t) && !slices.Contains(d.Types, t) {
				d.Types = append(d.Types, t)
			}
		}
	}
	for i := range out { // in the order of known, whichever implementation added them
		if d := &out[i]; !slices.Contains(d.Types, AnyType) {
			slices.SortStableFunc(d.Types, func(a, b string) int { return slices.Index(known, a) - slices.Index(known, b) })
		}
	}
	return out
}
