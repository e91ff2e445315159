package rules

import "github.com/exportguard/exportguard/pkg/guard"

// accessRules are the rules about people's access: access.jit-window,
// access.jit-overstay (Defender for Cloud JIT and PIM), access.unscreened-principal.
func accessRules() []guard.Rule {
	return []guard.Rule{JITWindow{}, JITOverstay{}, PIMOverstay{}, UnscreenedPrincipal{}}
}

// What the pipeline needs of each access rule.
var (
	_ guard.GrantRule = JITWindow{}
	_ guard.GrantRule = JITOverstay{}
	_ guard.Gatherer  = JITOverstay{}
	_ guard.GrantRule = PIMOverstay{}
	_ guard.Gatherer  = PIMOverstay{}
	_ guard.Gatherer  = UnscreenedPrincipal{}
)
