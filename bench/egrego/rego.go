// Package egrego evaluates exportguard.rego, the Rego twin of the data rules the
// benchmark's workload exercises, with Open Policy Agent's Go library: prepared
// once, evaluated once per judged resource.
package egrego

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/region"
)

//go:embed *.rego
var files embed.FS

// Rules are the rule IDs the Rego covers.
var Rules = []string{guard.RuleResidencyLocation, guard.RuleResidencyReplication, guard.RuleEncryptionCMK, guard.RuleTransitTLS}

// Verdict is what both engines are compared on.
type Verdict struct {
	Rule       string `json:"rule"`
	ResourceID string `json:"resourceId"`
	Violation  bool   `json:"violation"`
}

func (v Verdict) String() string {
	return fmt.Sprintf("%s %s violation=%t", v.Rule, v.ResourceID, v.Violation)
}

// Evaluator is the prepared query data.exportguard.verdicts.
type Evaluator struct {
	pq rego.PreparedEvalQuery
}

// New compiles the Rego with the policy and the region table as data.
func New(ctx context.Context, pol *guard.Policy) (*Evaluator, error) {
	opts := []func(*rego.Rego){rego.Query("data.exportguard.verdicts"), rego.Store(inmem.NewFromObjectWithOpts(Data(pol), inmem.OptReturnASTValuesOnRead(true)))}
	err := fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := files.ReadFile(path)
		if err != nil {
			return err
		}
		opts = append(opts, rego.Module(path, string(src)))
		return nil
	})
	if err != nil {
		return nil, err
	}
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("prepare rego: %w", err)
	}
	return &Evaluator{pq: pq}, nil
}

// Data is the OPA data document: the policy's allowed set and rule modes, the
// region table (geography and pair of every region), and the regions the policy
// admits, worked out once from both (guard.Policy.RegionAllowed).
func Data(pol *guard.Policy) map[string]any {
	modes := map[string]any{}
	for _, r := range guard.RuleIDs {
		modes[r] = pol.RuleMode(r)
	}
	strs := func(ss []string) []any {
		out := make([]any, 0, len(ss))
		for _, s := range ss {
			out = append(out, s)
		}
		return out
	}
	regions, allowed := map[string]any{}, map[string]any{}
	for _, r := range region.All() {
		regions[r.Name] = map[string]any{"geography": r.Geography, "pair": r.Paired}
		if pol.RegionAllowed(r.Name) {
			allowed[r.Name] = true
		}
	}
	for _, r := range pol.AllowedRegions { // a region the table does not know
		if n := region.Normalize(r); n != "" {
			allowed[n] = true
		}
	}
	return map[string]any{
		"policy":  map[string]any{"allowedRegions": strs(pol.AllowedRegions), "allowedGeographies": strs(pol.AllowedGeographies), "modes": modes},
		"regions": regions,
		"allowed": allowed,
	}
}

// Input is the Rego input for a resource: its ID, type and parsed ARM body.
func Input(res *guard.Resource) (map[string]any, error) {
	var body any
	if err := json.Unmarshal(res.Body, &body); err != nil {
		return nil, err
	}
	return map[string]any{"id": res.ID, "type": res.Type, "body": body}, nil
}

// ParsedInput is Input converted to OPA's own value, ready for EvalParsed.
func ParsedInput(res *guard.Resource) (ast.Value, error) {
	in, err := Input(res)
	if err != nil {
		return nil, err
	}
	return ast.InterfaceToValue(in)
}

// Eval evaluates the rules on an input as Input makes it.
func (e *Evaluator) Eval(ctx context.Context, input map[string]any) ([]Verdict, error) {
	rs, err := e.pq.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return nil, err
	}
	return verdicts(rs)
}

// EvalParsed evaluates the rules on an input already converted to an ast.Value.
func (e *Evaluator) EvalParsed(ctx context.Context, input ast.Value) ([]Verdict, error) {
	rs, err := e.pq.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return nil, err
	}
	return verdicts(rs)
}

func verdicts(rs rego.ResultSet) ([]Verdict, error) {
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil, nil
	}
	list, ok := rs[0].Expressions[0].Value.([]any)
	if !ok {
		return nil, fmt.Errorf("rego: verdicts is %T, want a set", rs[0].Expressions[0].Value)
	}
	out := make([]Verdict, 0, len(list))
	for _, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("rego: verdict is %T", x)
		}
		v := Verdict{}
		v.Rule, _ = m["rule"].(string)
		v.ResourceID, _ = m["resourceId"].(string)
		v.Violation, _ = m["violation"].(bool)
		out = append(out, v)
	}
	Sort(out)
	return out, nil
}

// Sort orders verdicts for comparison.
func Sort(vs []Verdict) {
	sort.Slice(vs, func(i, j int) bool { return vs[i].String() < vs[j].String() })
}

// FromGuard turns exportguard's verdicts into comparable ones, keeping those of
// the rules the Rego covers.
func FromGuard(vs []guard.Verdict) []Verdict {
	out := make([]Verdict, 0, len(vs))
	for _, v := range vs {
		out = append(out, Verdict{Rule: v.Rule, ResourceID: v.ResourceID, Violation: v.Violation})
	}
	Sort(out)
	return out
}
