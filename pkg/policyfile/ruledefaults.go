package policyfile

import (
	"fmt"

	"github.com/exportguard/exportguard/pkg/guard"
)

// The values a rule's mode and severity may take.
var (
	RuleModes  = []string{guard.ModeOff, guard.ModeAlert, guard.ModeRemediate}
	Severities = []string{"low", "medium", "high", "critical"}
)

// Setting is one key of a rule's entry in a policy file, with its value as
// written.
type Setting struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// RuleDefaults are the keys the built-in policy gives each rule, by rule ID,
// as default.yaml writes them: mode, severity, and the durations the rule
// reads (grace, maxDuration, silence). What `exportguard rules` shows.
func RuleDefaults() map[string][]Setting {
	root, err := checkStructure(defaultYAML)
	if err != nil {
		panic(fmt.Sprintf("policy: built-in default: %v", err)) // a build defect, not input
	}
	f, err := decodeFile(root)
	if err != nil {
		panic(fmt.Sprintf("policy: built-in default: %v", err))
	}
	out := map[string][]Setting{}
	for _, r := range f.Rules {
		for _, kv := range r.keys {
			out[r.id] = append(out[r.id], Setting{kv.key, deref(kv.val).Value})
		}
	}
	return out
}
