package bench

import (
	_ "embed"
	"fmt"

	"github.com/exportguard/exportguard/pkg/customrule"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/resourcemanager"
)

// customRulesYAML is the benchmark's policy of 20 custom rules: the four
// shipped examples and variants of them (customrules.yaml says which).
//
//go:embed customrules.yaml
var customRulesYAML []byte

// CustomRulesFile is where that policy is, for whoever reads it from disk
// (pkg/customrule's BenchmarkEvaluate).
const CustomRulesFile = "customrules.yaml"

// CustomPolicy is the default policy with the benchmark's custom rules, and
// those rules compiled as the wiring compiles them (customrule.Compile, against
// the types exportguard reads).
func CustomPolicy() (*guard.Policy, []guard.Rule, error) {
	pol, err := policyfile.Parse(customRulesYAML)
	if err != nil {
		return nil, nil, fmt.Errorf("bench custom rules: %w", err)
	}
	compiled, err := customrule.Compile(pol.CustomRules, resourcemanager.PinnedTypes())
	if err != nil {
		return nil, nil, fmt.Errorf("bench custom rules: %w", err)
	}
	rs := make([]guard.Rule, 0, len(compiled))
	for _, r := range compiled {
		rs = append(rs, r)
	}
	return pol, rs, nil
}
