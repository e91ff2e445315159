package cli

import (
	"log/slog"
	"runtime"
	"sync"
	"weak"

	"github.com/exportguard/exportguard/pkg/customrule"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/resourcemanager"
	"github.com/exportguard/exportguard/pkg/rules"
)

// loadPolicy reads a policy file (the built-in default for "") and compiles
// its custom rules, so that every verb refuses a bad expression before it
// does anything, naming the rule and its line. Every verb that reads a policy
// reads it here.
func loadPolicy(path string) (*guard.Policy, error) {
	p, err := policyfile.Load(path)
	if err != nil {
		return nil, err
	}
	if _, err := compiledCustomRules(p); err != nil {
		return nil, err
	}
	return p, nil
}

// pipelineRules are the rules a pipeline (or the recorder's) runs under a
// policy: every built-in rule, then the policy's custom rules, logging to log.
func (a *App) pipelineRules(pol *guard.Policy, log *slog.Logger) ([]guard.Rule, error) {
	all := rules.AllFor(appHub(a.getenv)) // wiring_hub.go
	custom, err := compiledCustomRules(pol)
	if err != nil {
		return nil, err
	}
	for _, r := range custom {
		all = append(all, r.WithLog(log))
	}
	return all, nil
}

// compiled holds each loaded policy's compiled custom rules, so that a policy
// is compiled once however many pipelines it drives (replay --compare, serve).
// A policy is not changed once loaded; its entry goes when the policy does.
var compiled sync.Map // weak.Pointer[guard.Policy] → []*customrule.Rule

func compiledCustomRules(p *guard.Policy) ([]*customrule.Rule, error) {
	if p == nil || len(p.CustomRules) == 0 {
		return nil, nil
	}
	key := weak.Make(p)
	if rs, ok := compiled.Load(key); ok {
		return rs.([]*customrule.Rule), nil
	}
	rs, err := customrule.Compile(p.CustomRules, resourcemanager.PinnedTypes())
	if err != nil {
		return nil, err
	}
	if _, loaded := compiled.LoadOrStore(key, rs); !loaded {
		runtime.AddCleanup(p, func(k weak.Pointer[guard.Policy]) { compiled.Delete(k) }, key)
	}
	return rs, nil
}
