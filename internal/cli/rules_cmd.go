package cli

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/resourcemanager"
	"github.com/exportguard/exportguard/pkg/rules"
)

// ruleInfo is one rule as `exportguard rules` lists it: the rules package's
// description (rules.Describe, over the types ARM reads) and the policy's
// keys for it (policyfile), so that a rule added to either is listed.
type ruleInfo struct {
	ID         string               `json:"id"`
	Finds      string               `json:"finds"`
	Types      []string             `json:"types"` // "*" for every type
	Modes      []string             `json:"modes"`
	Severities []string             `json:"severities"`
	Defaults   []policyfile.Setting `json:"defaults"` // rules.<id>.<key> in the built-in policy
	PolicyKeys []string             `json:"policyKeys"`
}

func (a *App) newRulesCommand() *cobra.Command {
	var format outputFormat
	var policyPath string
	cmd := &cobra.Command{
		Use:   "rules [--policy FILE] [--format table|json|csv]",
		Short: "List the rules: what each finds and judges, its modes, severities and policy keys",
		Long: `rules lists every rule exportguard runs (replay, scan and the Functions app run the same
set): the resource types it judges ("*": every type), what a finding of it means, its
settings in the built-in policy (rules.RULE.mode, severity and the durations it reads),
the values mode and severity take, and the policy keys outside rules.RULE it reads.
A policy file overrides the settings key by key (docs/policy.md). With --policy FILE the
file's custom rules (customRules, docs/custom-rules.md) follow the built-in ones, each with
the expression it evaluates, its mode and severity.`,
		Example: "  exportguard rules\n  exportguard rules --format json\n  exportguard rules --policy testdata/sessions/custom-storage-public-blob.policy.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			infos := ruleInfos()
			if policyPath != "" {
				pol, err := loadPolicy(policyPath)
				if err != nil {
					return err
				}
				infos = append(infos, customRuleInfos(pol)...)
			}
			if format == formatTable {
				printRulesTable(cmd.OutOrStdout(), infos)
				return nil
			}
			return writeListing(cmd.OutOrStdout(), format, 0, infos, ruleColumns, false)
		},
	}
	addFormatFlag(cmd, &format, "rule")
	cmd.Flags().StringVar(&policyPath, "policy", "", "also list this policy file's custom rules")
	return cmd
}

func ruleInfos() []ruleInfo {
	defaults := policyfile.RuleDefaults()
	var out []ruleInfo
	for _, d := range rules.Describe(resourcemanager.PinnedTypes()) {
		out = append(out, ruleInfo{ID: d.ID, Finds: d.Violation, Types: d.Types, Modes: policyfile.RuleModes,
			Severities: policyfile.Severities, Defaults: defaults[d.ID], PolicyKeys: append([]string{}, d.PolicyKeys...)})
	}
	return out
}

// customRuleInfos are a policy's custom rules as rules lists them: what one
// finds is its expression, and the only key it reads is its own entry.
func customRuleInfos(pol *guard.Policy) []ruleInfo {
	var out []ruleInfo
	for _, c := range pol.CustomRules {
		out = append(out, ruleInfo{ID: c.ID, Finds: c.Violation, Types: c.Types, Modes: policyfile.CustomRuleModes,
			Severities: policyfile.Severities,
			Defaults:   []policyfile.Setting{{Key: "mode", Value: pol.RuleMode(c.ID)}, {Key: "severity", Value: pol.Severity(c.ID)}},
			PolicyKeys: []string{fmt.Sprintf("customRules[%d]", c.Index)}})
	}
	return out
}

// ruleColumns are the csv columns of a rule; lists are joined with "; ".
var ruleColumns = []column[ruleInfo]{
	{csv: "id", cell: func(r ruleInfo) string { return r.ID }},
	{csv: "finds", cell: func(r ruleInfo) string { return r.Finds }},
	{csv: "types", cell: func(r ruleInfo) string { return strings.Join(r.Types, "; ") }},
	{csv: "modes", cell: func(r ruleInfo) string { return strings.Join(r.Modes, "; ") }},
	{csv: "severities", cell: func(r ruleInfo) string { return strings.Join(r.Severities, "; ") }},
	{csv: "defaults", cell: func(r ruleInfo) string {
		var def []string
		for _, s := range r.Defaults {
			def = append(def, s.Key+"="+s.Value)
		}
		return strings.Join(def, "; ")
	}},
	{csv: "policyKeys", cell: func(r ruleInfo) string { return strings.Join(r.PolicyKeys, "; ") }},
}

// printRulesTable prints a rule to a group of rows, its lists one item to a
// row and what it finds wrapped, so that the table stays narrow; the types
// without the "microsoft." every one starts with.
func printRulesTable(w io.Writer, infos []ruleInfo) {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tDEFAULT\tALSO READS\tJUDGES\tFINDS")
	for i, r := range infos {
		if i > 0 {
			fmt.Fprintln(tw, "\t\t\t\t") // a blank row that keeps the columns
		}
		var def []string
		for _, s := range r.Defaults {
			def = append(def, s.Key+"="+s.Value)
		}
		types := make([]string, len(r.Types))
		for i, t := range r.Types {
			types[i] = strings.TrimPrefix(t, "microsoft.")
		}
		cells := [][]string{{r.ID}, def, r.PolicyKeys, types, wrap(r.Finds, 48)}
		for row := 0; ; row++ {
			line, more := make([]string, len(cells)), false
			for c, cell := range cells {
				if row < len(cell) {
					line[c], more = cell[row], true
				}
			}
			if !more {
				break
			}
			fmt.Fprintln(tw, strings.Join(line, "\t"))
		}
	}
	tw.Flush()
	for line := range strings.Lines(b.String()) { // no padding after the last cell
		fmt.Fprintln(w, strings.TrimRight(line, " \n"))
	}
	fmt.Fprintf(w, "\nmode (rules.RULE.mode): %s; severity (rules.RULE.severity): %s; JUDGES * is every resource type.\n",
		strings.Join(policyfile.RuleModes, ", "), strings.Join(policyfile.Severities, ", "))
}

// wrap breaks s into lines of at most width bytes at spaces (a longer word
// stands alone).
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len(line)+1+len(word) > width {
			lines, line = append(lines, line), ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
