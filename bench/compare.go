package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/exportguard/exportguard/bench/egrego"
	"github.com/exportguard/exportguard/bench/workload"
	"github.com/exportguard/exportguard/pkg/activitylog"
	"github.com/exportguard/exportguard/pkg/eventgrid"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/replay"
	"github.com/exportguard/exportguard/pkg/rules"
)

// EngineResult is what the rules-versus-OPA run found.
type EngineResult struct {
	Records    int          `json:"records"`            // input records the judged resources came from
	Judged     int          `json:"judgedResources"`    // resource states judged (one per judged change)
	Verdicts   int          `json:"verdicts"`           // exportguard's verdicts
	Violations int          `json:"violations"`         // of which violations
	Compared   int          `json:"compared"`           // resources whose verdicts were compared (all of them)
	Mismatches int          `json:"mismatches"`         // resources where OPA and exportguard disagree
	Uncovered  int          `json:"uncoveredVerdicts"`  // exportguard verdicts of rules the Rego lacks
	Examples   []string     `json:"examples,omitempty"` // a few mismatches, to fix them
	Custom     CustomResult `json:"customRules"`        // the policy's custom rules on the same resources
}

// CustomResult is what the custom rules (customrules.yaml) found on the judged
// resources, to show that they judged them (a failing expression gives no
// verdict, and would make the rules look cheaper than they are).
type CustomResult struct {
	Rules      int            `json:"rules"`
	Applicable int            `json:"applicable"` // (resource, custom rule judging its type) pairs
	Verdicts   int            `json:"verdicts"`
	Violations int            `json:"violations"`
	NoVerdict  int            `json:"noVerdict"`         // applicable pairs without a verdict: expressions that failed
	PerRule    map[string]int `json:"verdictsPerRule"`   // verdicts of each rule
	Violating  map[string]int `json:"violationsPerRule"` // of which violations
	// Resources where the built-in and custom rules together gave other
	// verdicts than each alone.
	TogetherDiffer int `json:"togetherDiffer"`
}

// EngineMeters time each way RunRulesAndOPA judges the resources.
type EngineMeters struct {
	Rules     *Meter // the built-in rules
	Custom    *Meter // the 20 custom rules alone
	Both      *Meter // the built-in and custom rules, as a pipeline with that policy runs them
	OPAJSON   *Meter // OPA, input decoded from the body bytes
	OPAParsed *Meter // OPA, input already converted to ast.Value
}

// NewEngineMeters returns a set of meters.
func NewEngineMeters() EngineMeters {
	return EngineMeters{NewMeter(false), NewMeter(false), NewMeter(false), NewMeter(false), NewMeter(false)}
}

// Judged lists, for one chunk of the workload, the resource states the
// pipeline judges: one per succeeded, in-scope change of a judged type not seen
// before (the ledger), as ARM returns it at the delivery's time.
type judgedStates struct {
	pol   *guard.Policy
	rules []guard.Rule
	clock *Clock
	arm   *replay.ARM
	seen  map[string]bool
}

func newJudgedStates(u *workload.Universe) *judgedStates {
	j := &judgedStates{pol: policyfile.Default(), rules: rules.All(), clock: &Clock{}, seen: map[string]bool{}}
	j.clock.Set(workload.Start)
	j.arm = replay.NewARM(j.clock.Now)
	u.Observe(j.arm)
	return j
}

type judgedState struct {
	res *guard.Resource
	now time.Time
}

func (j *judgedStates) applies(t string) bool {
	for _, r := range j.rules {
		if j.pol.RuleMode(r.ID()) != guard.ModeOff && r.Applies(t) {
			return true
		}
	}
	return false
}

func (j *judgedStates) of(ctx context.Context, items []workload.Item) ([]judgedState, error) {
	var out []judgedState
	for _, it := range items {
		j.clock.Set(it.Now)
		for _, b := range it.Bodies {
			dec := activitylog.Decode
			if it.Source == guard.SourceEventGrid {
				dec = eventgrid.Decode
			}
			d, err := dec(b)
			if err != nil {
				return nil, err
			}
			for _, c := range d.Changes {
				if c.Outcome != guard.OutcomeSucceeded || !j.pol.InScope(c.SubscriptionID) || !j.applies(c.ResourceType) {
					continue
				}
				key := c.OperationKey()
				if j.seen[key] {
					continue
				}
				j.seen[key] = true
				res, err := j.arm.ReadResource(ctx, c.ResourceID)
				if err != nil {
					continue // 404: the pipeline gives no verdict either
				}
				out = append(out, judgedState{res, it.Now})
			}
		}
	}
	return out, nil
}

// RunRulesAndOPA judges the resource states the pipeline judges for n records
// of the stream five ways, each timed on its own: exportguard's built-in rules
// (from the ARM body bytes, as the pipeline's judge step), the 20 custom rules
// of customrules.yaml alone, both together (a pipeline under that policy), OPA
// from the same bytes (decoded to map[string]any and evaluated with EvalInput,
// as an OPA-based pipeline would), and OPA on input already converted to its
// own ast.Value (EvalParsedInput: OPA's evaluation alone). Every resource's
// verdicts are compared between exportguard and OPA, and the custom rules'
// verdicts are counted.
func RunRulesAndOPA(ctx context.Context, u *workload.Universe, s *workload.Stream, n int, ev *egrego.Evaluator, m EngineMeters) (EngineResult, error) {
	var res EngineResult
	j := newJudgedStates(u)
	customPol, custom, err := CustomPolicy()
	if err != nil {
		return res, err
	}
	both := append(slices.Clone(j.rules), custom...)
	res.Custom = CustomResult{Rules: len(custom), PerRule: map[string]int{}, Violating: map[string]int{}}
	covered := map[string]bool{}
	for _, r := range egrego.Rules {
		covered[r] = true
	}
	var parsed []ast.Value
	total, err := Chunks(s, n, func(items []workload.Item, recs int) error {
		states, err := j.of(ctx, items)
		if err != nil {
			return err
		}
		ours := make([][]guard.Verdict, len(states))
		sec := m.Rules.Start()
		for i, st := range states {
			ours[i] = Judge(j.pol, j.rules, st.res, st.now)
		}
		m.Rules.Stop(sec, recs)

		customs := make([][]guard.Verdict, len(states))
		sec = m.Custom.Start()
		for i, st := range states {
			customs[i] = Judge(customPol, custom, st.res, st.now)
		}
		m.Custom.Stop(sec, recs)

		together := make([][]guard.Verdict, len(states))
		sec = m.Both.Start()
		for i, st := range states {
			together[i] = Judge(customPol, both, st.res, st.now)
		}
		m.Both.Stop(sec, recs)

		theirs := make([][]egrego.Verdict, len(states))
		sec = m.OPAJSON.Start()
		for i, st := range states {
			in, err := egrego.Input(st.res)
			if err != nil {
				return err
			}
			if theirs[i], err = ev.Eval(ctx, in); err != nil {
				return err
			}
		}
		m.OPAJSON.Stop(sec, recs)

		parsed = parsed[:0]
		for _, st := range states {
			v, err := egrego.ParsedInput(st.res)
			if err != nil {
				return err
			}
			parsed = append(parsed, v)
		}
		sec = m.OPAParsed.Start()
		for i := range states {
			if _, err := ev.EvalParsed(ctx, parsed[i]); err != nil {
				return err
			}
		}
		m.OPAParsed.Stop(sec, recs)

		for i, st := range states {
			countCustom(&res.Custom, customPol, custom, st.res, customs[i])
			if !verdictsEqual(together[i], append(slices.Clone(ours[i]), customs[i]...)) {
				res.Custom.TogetherDiffer++
			}
			res.Judged++
			var kept []guard.Verdict
			for _, v := range ours[i] {
				res.Verdicts++
				if v.Violation {
					res.Violations++
				}
				if covered[v.Rule] {
					kept = append(kept, v)
				} else {
					res.Uncovered++
				}
			}
			want := egrego.FromGuard(kept)
			res.Compared++
			if !slices.Equal(want, theirs[i]) {
				res.Mismatches++
				if len(res.Examples) < 5 {
					res.Examples = append(res.Examples, fmt.Sprintf("%s: exportguard %v, OPA %v", st.res.ID, want, theirs[i]))
				}
			}
		}
		return nil
	})
	res.Records = total
	return res, err
}

// countCustom adds one resource's custom verdicts to the counts.
func countCustom(c *CustomResult, pol *guard.Policy, custom []guard.Rule, res *guard.Resource, vs []guard.Verdict) {
	for _, r := range custom {
		if pol.RuleMode(r.ID()) != guard.ModeOff && r.Applies(res.Type) {
			c.Applicable++
		}
	}
	for _, v := range vs {
		c.Verdicts++
		c.PerRule[v.Rule]++
		if v.Violation {
			c.Violations++
			c.Violating[v.Rule]++
		}
	}
	c.NoVerdict = c.Applicable - c.Verdicts
}

func verdictsEqual(a, b []guard.Verdict) bool {
	return slices.EqualFunc(a, b, func(x, y guard.Verdict) bool {
		return x.Rule == y.Rule && x.ResourceID == y.ResourceID && x.Violation == y.Violation && x.Message == y.Message
	})
}
