package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/exportguard/exportguard/bench"
	"github.com/exportguard/exportguard/bench/egrego"
	"github.com/exportguard/exportguard/bench/workload"
	"github.com/exportguard/exportguard/pkg/policyfile"
)

// engines is section 5: the built-in rules, the 20 custom rules
// (bench/customrules.yaml) alone and with them, and the built-in data rules in
// Rego under OPA, each on the same judged resources. It adds the rows and the
// OPA check to res; its targets are customTargets'.
func engines(ctx context.Context, c config, u *workload.Universe, res *Results) (bench.EngineResult, bench.EngineMeters, error) {
	progress("exportguard rules, 20 custom rules and OPA, %d records", c.opaRecords)
	em := bench.NewEngineMeters()
	ev, err := egrego.New(ctx, policyfile.Default())
	if err != nil {
		return bench.EngineResult{}, em, err
	}
	eng, err := bench.RunRulesAndOPA(ctx, u, u.Stream(c.seed), c.opaRecords, ev, em)
	if err != nil {
		return eng, em, err
	}
	res.OPA = eng
	perJudged := fmt.Sprintf("%d resource states judged", eng.Judged)
	cr := eng.Custom
	customNote := fmt.Sprintf("%s; bench/customrules.yaml: %d rules in the policy, %.1f of them judging each resource on average (2 judge every type), %d verdicts (%d violations), %d evaluations without a verdict",
		perJudged, cr.Rules, float64(cr.Applicable)/float64(max(1, eng.Judged)), cr.Verdicts, cr.Violations, cr.NoVerdict)
	res.Rows = append(res.Rows,
		perResource(row("exportguard rules only (pkg/rules on the ARM body bytes)", "-", em.Rules, perJudged), em.Rules, eng.Judged),
		perResource(row("20 custom rules only (CEL, pkg/customrule, on the same bytes)", "-", em.Custom, customNote), em.Custom, eng.Judged),
		perResource(row("exportguard rules and the 20 custom rules together", "-", em.Both, perJudged+"; as a pipeline under that policy judges"), em.Both, eng.Judged),
		perResource(row("OPA: same rules in Rego, input decoded from the same bytes (EvalInput)", "-", em.OPAJSON, perJudged), em.OPAJSON, eng.Judged),
		perResource(row("OPA: same rules in Rego, input pre-converted to ast.Value (EvalParsedInput)", "-", em.OPAParsed, perJudged+"; conversion not timed"), em.OPAParsed, eng.Judged))
	res.Ratios["customRules/rulesOnly"] = perResourceNs(em.Custom, eng.Judged) / nonzero(perResourceNs(em.Rules, eng.Judged))
	res.Ratios["rulesAndCustom/rulesOnly"] = perResourceNs(em.Both, eng.Judged) / nonzero(perResourceNs(em.Rules, eng.Judged))
	res.Ratios["customRules/opaParsed"] = perResourceNs(em.Custom, eng.Judged) / nonzero(perResourceNs(em.OPAParsed, eng.Judged))
	return eng, em, nil
}

// perResource adds a row's cost per judged resource.
func perResource(r Row, m *bench.Meter, judged int) Row {
	r.Resources = judged
	r.CPUNsPerResource = perResourceNs(m, judged)
	if judged > 0 {
		r.AllocsPerResource = float64(m.Allocs) / float64(judged)
	}
	return r
}

// perResourceNs is CPU time per judged resource.
func perResourceNs(m *bench.Meter, judged int) float64 {
	if judged == 0 {
		return 0
	}
	return float64(m.CPU.Nanoseconds()) / float64(judged)
}

// customTargets are issue 19's: the 20 custom rules cost at most twice the
// built-in rules per judged resource, and less than OPA.
func customTargets(eng bench.EngineResult, em bench.EngineMeters) []Target {
	n := eng.Judged
	builtin, custom, both := perResourceNs(em.Rules, n), perResourceNs(em.Custom, n), perResourceNs(em.Both, n)
	opaP, opaJ := perResourceNs(em.OPAParsed, n), perResourceNs(em.OPAJSON, n)
	ratio := custom / nonzero(builtin)
	return []Target{
		{Goal: "20 custom rules in the policy cost at most 2x the built-in rules per judged resource (CPU)",
			Measured: fmt.Sprintf("%.2fx: %.1f µs per resource for the custom rules, %.1f µs for the built-in rules, %.1f µs both together (%d resources; %d custom evaluations without a verdict)",
				ratio, custom/1e3, builtin/1e3, both/1e3, n, eng.Custom.NoVerdict),
			Value: ratio, Met: ratio <= 2 && eng.Custom.NoVerdict == 0},
		{Goal: "20 custom rules ahead of OPA on the built-in data rules (CPU per judged resource)",
			Measured: fmt.Sprintf("custom rules %.1f µs; OPA %.1f µs with pre-parsed input, %.1f µs from JSON (%.1fx and %.1fx the custom rules)",
				custom/1e3, opaP/1e3, opaJ/1e3, opaP/nonzero(custom), opaJ/nonzero(custom)),
			Value: opaP / nonzero(custom), Met: custom < opaP && custom < opaJ},
	}
}

// markdownPerResource is the README's table of what judging one resource
// costs each engine.
func markdownPerResource(b *strings.Builder, r *Results) {
	rows := judging(r)
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(b, "\nPer judged resource (%d resource states, one per judged change, the same for every row):\n\n", rows[0].Resources)
	b.WriteString("| rules | CPU µs per resource | allocs per resource | vs exportguard rules only |\n| --- | ---: | ---: | ---: |\n")
	for _, x := range rows {
		fmt.Fprintf(b, "| %s | %.2f | %.0f | %.2fx |\n", short(x.Name), x.CPUNsPerResource/1e3, x.AllocsPerResource, x.CPUNsPerResource/nonzero(rows[0].CPUNsPerResource))
	}
}

func printPerResource(out io.Writer, r *Results) {
	rows := judging(r)
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(out, "\nper judged resource (%d):\n", rows[0].Resources)
	for _, x := range rows {
		fmt.Fprintf(out, "  %-38s %8.2f µs CPU %6.0f allocs  %5.2fx the built-in rules\n", short(x.Name), x.CPUNsPerResource/1e3, x.AllocsPerResource, x.CPUNsPerResource/nonzero(rows[0].CPUNsPerResource))
	}
}

// judging are the rows that judge resources, the built-in rules' first.
func judging(r *Results) []Row {
	var out []Row
	for _, x := range r.Rows {
		if x.Resources > 0 {
			out = append(out, x)
		}
	}
	return out
}
