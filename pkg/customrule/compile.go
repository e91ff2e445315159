package customrule

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"github.com/agnivade/levenshtein"

	"github.com/exportguard/exportguard/pkg/guard"
)

// Bounds on what an expression may cost, in CEL's cost units (about one per
// operation; a comprehension costs its body once per element).
const (
	// MaxEstimatedCost is the most an expression's estimated worst case may
	// cost; a costlier one is refused when the policy loads. It lets a
	// comprehension over a list of AssumedSize elements through, and refuses
	// one nested in another.
	MaxEstimatedCost = 1_000_000
	// AssumedSize is the length the estimate assumes of every list, map and
	// string in resource, previous and policy.roster: ARM bodies have no
	// schema here, so their sizes are unknown when the policy loads.
	AssumedSize = 1_000
	// AssumedRegions is the length assumed of policy.allowedRegions and
	// policy.allowedGeographies (Azure has fewer regions than this).
	AssumedRegions = 100
	// MaxEvalCost bounds each evaluation at the bound the estimate was held
	// to: an expression accepted never reaches it on a resource within the
	// assumed sizes, and stops at it (an error, no verdict) on a larger one.
	MaxEvalCost = MaxEstimatedCost
)

// Compile compiles a policy's custom rules. known lists the resource types
// exportguard can read (resourcemanager.PinnedTypes()); a type outside it is
// refused with the nearest known name. nil known accepts any type. The error
// names every rule that does not compile, each with its ID and policy line.
func Compile(defs []guard.CustomRule, known []string) ([]*Rule, error) {
	return compile(defs, known, true)
}

// compile is Compile; prune false reads every body whole (for the tests that
// hold the pruned reading to the whole one).
func compile(defs []guard.CustomRule, known []string, prune bool) ([]*Rule, error) {
	out := make([]*Rule, 0, len(defs))
	var errs []error
	reads := paths{}
	for _, def := range defs {
		r, err := New(def, known)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		reads = union(reads, r.reads)
		out = append(out, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if !prune {
		reads = nil
	}
	bodies := &bodyCache{want: reads}
	for _, r := range out {
		r.bodies = bodies // the rules judge the same resource one after another
	}
	return out, nil
}

// New compiles one custom rule: its types checked, its expression parsed,
// type-checked to bool and its cost estimated.
func New(def guard.CustomRule, known []string) (*Rule, error) {
	for i, t := range def.Types {
		if err := checkType(t, known); err != nil {
			return nil, ruleErr(def, def.Line, fmt.Sprintf("types[%d]", i), err.Error())
		}
	}
	e, err := env()
	if err != nil {
		return nil, fmt.Errorf("custom rules: CEL environment: %w", err) // a build defect
	}
	ast, iss := e.Compile(def.Violation)
	if iss.Err() != nil {
		return nil, ruleErr(def, def.ViolationLine, "violation", iss.Err().Error())
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, ruleErr(def, def.ViolationLine, "violation",
			fmt.Sprintf("the expression is %s, not bool: it must say whether the resource violates the rule (compare a field: … == true)", ast.OutputType()))
	}
	est, err := e.EstimateCost(ast, sizes{})
	if err != nil {
		return nil, ruleErr(def, def.ViolationLine, "violation", "estimate its cost: "+err.Error())
	}
	if est.Max > MaxEstimatedCost {
		return nil, ruleErr(def, def.ViolationLine, "violation",
			fmt.Sprintf("the expression may cost up to %s units, above the bound of %d (lists assumed %d long): nest fewer comprehensions (all, exists, map, filter)", costText(est.Max), MaxEstimatedCost, AssumedSize))
	}
	prg, err := e.Program(ast, cel.CostLimit(MaxEvalCost), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, ruleErr(def, def.ViolationLine, "violation", err.Error())
	}
	reads := readPaths(ast.NativeRep().Expr())
	return &Rule{def: def, anyType: slices.Contains(def.Types, guard.AnyType),
		violating: parseMessage(def.Message), compliant: parseMessage("{{name}} does not violate " + def.ID + "."), expr: def.Violation,
		prg: prg, reads: reads, bodies: &bodyCache{want: reads}}, nil
}

// ruleErr names the rule and where it is in the policy:
// policy.yaml:14: customRules[0] custom.x: violation: ERROR: <input>:1:10: …
func ruleErr(def guard.CustomRule, line int, key, msg string) error {
	var at string
	switch {
	case def.File != "" && line > 0:
		at = fmt.Sprintf("%s:%d: ", def.File, line)
	case line > 0:
		at = fmt.Sprintf("line %d: ", line)
	}
	return fmt.Errorf("%scustomRules[%d] %s: %s: %s", at, def.Index, def.ID, key, msg)
}

func costText(c uint64) string {
	if c == ^uint64(0) {
		return "an unbounded number of"
	}
	return fmt.Sprint(c)
}

// maxSuggestInput bounds the type compared for a suggestion.
const maxSuggestInput = 128

// checkType refuses a type exportguard cannot read, naming the nearest one it can.
func checkType(t string, known []string) error {
	if t == guard.AnyType || known == nil || slices.ContainsFunc(known, func(k string) bool { return strings.EqualFold(k, t) }) {
		return nil
	}
	best, bestD := "", -1
	for _, k := range known {
		if len(t) > maxSuggestInput {
			break // a long value costs little, and is no misspelling
		}
		if d := levenshtein.ComputeDistance(strings.ToLower(t), strings.ToLower(k)); bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" && bestD <= max(3, len(t)/4) {
		return fmt.Errorf("unknown type %q (did you mean %s?)", t, best)
	}
	return fmt.Errorf("unknown type %q: exportguard reads the types `exportguard rules` lists", t)
}

// sizes tells CEL's cost estimate how large values may be: policy's region
// lists at most AssumedRegions, and every other list, map and string whose
// size the expression does not fix (all of resource, previous and
// policy.roster, and what is computed from them) at most AssumedSize.
type sizes struct{}

func (sizes) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if p := n.Path(); len(p) >= 2 && p[0] == varPolicy && (p[1] == "allowedRegions" || p[1] == "allowedGeographies") {
		return &cost.SizeEstimate{Min: 0, Max: AssumedRegions}
	}
	if n.ComputedSize() != nil {
		return nil // a literal: CEL knows its size
	}
	return &cost.SizeEstimate{Min: 0, Max: AssumedSize}
}

// EstimateCallCost sizes what an optional gives (orValue, value) as any other
// value from resource: CEL leaves it unknown, and then comparing two of them
// would be estimated without bound.
func (sizes) EstimateCallCost(function, overloadID string, target *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	switch function {
	case "orValue", "value":
		size := cost.SizeEstimate{Min: 0, Max: AssumedSize}
		return &cost.CallEstimate{CostEstimate: cost.FixedCostEstimate(1), ResultSize: &size}
	}
	return nil
}
