package rules

import "github.com/exportguard/exportguard/pkg/guard"

// accessRules are the rules about people's access: access.jit-window,
// access.jit-overstay, access.unscreened-principal.
func accessRules() []guard.Rule {
	return nil
}
