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
	Records    int      `json:"records"`            // input records the judged resources came from
	Judged     int      `json:"judgedResources"`    // resource states judged (one per judged change)
	Verdicts   int      `json:"verdicts"`           // exportguard's verdicts
	Violations int      `json:"violations"`         // of which violations
	Compared   int      `json:"compared"`           // resources whose verdicts were compared (all of them)
	Mismatches int      `json:"mismatches"`         // resources where OPA and exportguard disagree
	Uncovered  int      `json:"uncoveredVerdicts"`  // exportguard verdicts of rules the Rego lacks
	Examples   []string `json:"examples,omitempty"` // a few mismatches, to fix them
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
// of the stream three ways, each timed on its own: exportguard's rules (from the
// ARM body bytes, as the pipeline's judge step), OPA from the same bytes
// (decoded to map[string]any and evaluated with EvalInput, as an OPA-based
// pipeline would), and OPA on input already converted to its own ast.Value
// (EvalParsedInput: OPA's evaluation alone). Every resource's verdicts are
// compared between exportguard and OPA.
func RunRulesAndOPA(ctx context.Context, u *workload.Universe, s *workload.Stream, n int, ev *egrego.Evaluator, rulesM, opaJSON, opaParsed *Meter) (EngineResult, error) {
	var res EngineResult
	j := newJudgedStates(u)
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
		sec := rulesM.Start()
		for i, st := range states {
			ours[i] = Judge(j.pol, j.rules, st.res, st.now)
		}
		rulesM.Stop(sec, recs)

		theirs := make([][]egrego.Verdict, len(states))
		sec = opaJSON.Start()
		for i, st := range states {
			in, err := egrego.Input(st.res)
			if err != nil {
				return err
			}
			if theirs[i], err = ev.Eval(ctx, in); err != nil {
				return err
			}
		}
		opaJSON.Stop(sec, recs)

		parsed = parsed[:0]
		for _, st := range states {
			v, err := egrego.ParsedInput(st.res)
			if err != nil {
				return err
			}
			parsed = append(parsed, v)
		}
		sec = opaParsed.Start()
		for i := range states {
			if _, err := ev.EvalParsed(ctx, parsed[i]); err != nil {
				return err
			}
		}
		opaParsed.Stop(sec, recs)

		for i, st := range states {
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
