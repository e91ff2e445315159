package customrule

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"

	"github.com/exportguard/exportguard/pkg/guard"
)

// Rule is a compiled custom rule: a guard.Rule, safe for concurrent use.
type Rule struct {
	def       guard.CustomRule
	anyType   bool    // its types include "*"
	violating message // the message of a violation (its template)
	compliant message // the message of a compliant verdict
	expr      any     // the expression, for the verdicts' evidence
	prg       cel.Program
	reads     paths // what the expression can read of the bodies (readPaths)
	bodies    *bodyCache
	log       *slog.Logger
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
	// The types first: most rules judge few types, and most types they are
	// asked about are not theirs.
	if !r.anyType && !slices.ContainsFunc(r.def.Types, func(want string) bool { return strings.EqualFold(want, t) }) {
		return false
	}
	return strings.TrimSpace(t) != "" && !isGuardState(t)
}

// guardStatePrefix starts the types of the states the guard keeps for itself
// (guard.TypeHeard, guard.TypeSubscriptionName).
const guardStatePrefix = "exportguard/"

// isGuardState reports whether t is the type of a state the guard keeps for
// itself: not a resource in Azure, so not one "*" means. An ASCII type (every
// ARM type) is compared without allocating; any other as it always was.
func isGuardState(t string) bool {
	for i := range len(t) {
		if t[i] >= utf8.RuneSelf {
			return strings.HasPrefix(strings.ToLower(strings.TrimSpace(t)), guardStatePrefix)
		}
	}
	t = strings.TrimLeft(t, " \t\n\v\f\r")
	return len(t) >= len(guardStatePrefix) && strings.EqualFold(t[:len(guardStatePrefix)], guardStatePrefix)
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
	vars := &activation{bodies: r.bodies, in: in}
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
	v := guard.Verdict{Rule: r.def.ID, ResourceID: res.ID, Evidence: map[string]any{"expression": r.expr}}
	if v.Violation = out.Value().(bool); v.Violation {
		v.Message = r.violating.render(res)
	} else {
		v.Message = r.compliant.render(res)
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

// activation gives an expression its variables, each read when the
// expression first asks for it: previous's body is decoded only for the rules
// that read it, and policy only made for those that read it.
type activation struct {
	bodies *bodyCache
	in     guard.Input
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case varResource:
		return a.bodies.value(a.in.Resource), true
	case varPrevious:
		if p := a.in.Previous; p != nil && !p.Deleted {
			return a.bodies.value(p), true
		}
		return types.NullValue, true
	case varPolicy:
		return policyValue(a.in.Policy), true
	case varNow:
		return a.in.Now.UTC(), true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// bodyCache keeps the last two resource bodies read as JSON: the custom rules
// of one policy judge the same state (and its previous one) one after
// another, and read each once, and only the parts their expressions can
// read (want). Holding the *guard.Resource keeps its address from being
// reused while cached.
type bodyCache struct {
	want    paths // what the rules read of a body: nil, all of it
	mu      sync.Mutex
	entries [2]bodyEntry      // the most recent first
	keys    map[string]string // the object keys read so far (decodeWithKeys)
}

type bodyEntry struct {
	res  *guard.Resource
	body []byte
	val  any
}

func (e *bodyEntry) holds(res *guard.Resource) bool {
	return e.res == res && len(e.body) == len(res.Body) && (len(e.body) == 0 || &e.body[0] == &res.Body[0])
}

func (c *bodyCache) value(res *guard.Resource) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.entries[0].holds(res):
	case c.entries[1].holds(res):
		c.entries[0], c.entries[1] = c.entries[1], c.entries[0]
	default:
		c.entries[1] = c.entries[0]
		if c.keys == nil {
			c.keys = map[string]string{}
		}
		c.entries[0] = bodyEntry{res: res, body: res.Body, val: bodyValue(res, c.keys, c.want)}
	}
	return c.entries[0].val
}

// bodyValue is the resource's ARM JSON, as the built-in rules read it, with
// the parts want names (nil: all); a state without a body (or not an object)
// gives the fields the guard knows.
func bodyValue(res *guard.Resource, keys map[string]string, want paths) any {
	if v, err := decodePaths(res.Body, keys, want); err == nil { // as encoding/json reads it
		if m, ok := v.(map[string]any); ok {
			return m
		}
	}
	m := map[string]any{"id": res.ID, "type": res.Type}
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
