package customrule

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"

	"github.com/exportguard/exportguard/pkg/guard"
)

// Rule is a compiled custom rule: a guard.Rule, safe for concurrent use.
type Rule struct {
	def    guard.CustomRule
	prg    cel.Program
	bodies *bodyCache
	log    *slog.Logger
}

var _ guard.Rule = (*Rule)(nil)

// WithLog returns the rule logging its evaluation errors to log (the
// pipeline's), sharing the compiled program.
func (r *Rule) WithLog(log *slog.Logger) *Rule {
	c := *r
	c.log = log
	return &c
}

// Def is the rule as the policy defines it.
func (r *Rule) Def() guard.CustomRule { return r.def }

// ID is the rule's ID (custom.<name>).
func (r *Rule) ID() string { return r.def.ID }

// Applies reports whether the rule judges a type: one of its types, compared
// without case as ARM compares them, or any type for ["*"].
func (r *Rule) Applies(t string) bool {
	if strings.TrimSpace(t) == "" || isGuardState(t) {
		return false
	}
	for _, want := range r.def.Types {
		if want == guard.AnyType || strings.EqualFold(want, t) {
			return true
		}
	}
	return false
}

// isGuardState reports whether t is the type of a state the guard keeps for
// itself (guard.TypeHeard, guard.TypeSubscriptionName): not a resource in
// Azure, so not one "*" means.
func isGuardState(t string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(t)), "exportguard/")
}

// Evaluate gives a violation when the expression is true and a compliant
// verdict (which resolves an open finding) when it is false. An evaluation
// that fails (a field selected without ? that the resource lacks, the cost
// limit, a value of the wrong type) is logged and gives no verdict: it says
// nothing about the resource, so it neither opens nor resolves a finding.
func (r *Rule) Evaluate(in guard.Input) []guard.Verdict {
	res := in.Resource
	if res == nil || res.Deleted {
		return nil
	}
	vars := map[string]any{
		varResource: r.bodies.value(res),
		varPrevious: types.NullValue,
		varPolicy:   policyValue(in.Policy),
		varNow:      in.Now.UTC(),
	}
	if in.Previous != nil && !in.Previous.Deleted {
		vars[varPrevious] = r.bodies.value(in.Previous)
	}
	out, _, err := r.prg.Eval(vars)
	if err == nil {
		if _, ok := out.Value().(bool); !ok {
			err = fmt.Errorf("the expression gave %s, not a bool", out.Type().TypeName())
		}
	}
	if err != nil {
		// The rule and resource IDs, and CEL's error (about the expression); never the body.
		r.logger().Warn("custom rule could not judge a resource; no verdict", "rule", r.def.ID,
			"resourceId", res.ID, "error", truncate(err.Error(), 300))
		return nil
	}
	v := guard.Verdict{Rule: r.def.ID, ResourceID: res.ID, Evidence: map[string]any{"expression": r.def.Violation}}
	if v.Violation = out.Value().(bool); v.Violation {
		v.Message = guard.RenderCustomMessage(r.def.Message, res)
	} else {
		v.Message = guard.RenderCustomMessage("{{name}} does not violate "+r.def.ID+".", res)
	}
	return []guard.Verdict{v}
}

func (r *Rule) logger() *slog.Logger {
	if r.log == nil {
		return slog.Default()
	}
	return r.log
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// bodyCache keeps the last resource body read as JSON: the custom rules of
// one policy judge the same state one after another, and read it once.
// Holding the *guard.Resource keeps its address from being reused while cached.
type bodyCache struct {
	mu   sync.Mutex
	res  *guard.Resource
	body []byte
	val  any
}

func (c *bodyCache) value(res *guard.Resource) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.res == res && len(c.body) == len(res.Body) && (len(c.body) == 0 || &c.body[0] == &res.Body[0]) {
		return c.val
	}
	c.res, c.body, c.val = res, res.Body, bodyValue(res)
	return c.val
}

// bodyValue is the resource's ARM JSON, as the built-in rules read it; a
// state without a body (or not an object) gives the fields the guard knows.
func bodyValue(res *guard.Resource) any {
	var m map[string]any
	if json.Unmarshal(res.Body, &m) == nil && m != nil {
		return m
	}
	m = map[string]any{"id": res.ID, "type": res.Type}
	if res.Location != "" {
		m["location"] = res.Location
	}
	return m
}

// policyValue is what the expression sees of the policy.
func policyValue(p *guard.Policy) map[string]any {
	if p == nil {
		p = &guard.Policy{}
	}
	list := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return map[string]any{
		"cloud":              p.Cloud,
		"allowedRegions":     list(p.AllowedRegions),
		"allowedGeographies": list(p.AllowedGeographies),
		"roster":             list(p.Roster),
	}
}
