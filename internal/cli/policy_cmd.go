package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/customrule"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/resourcemanager"
)

func (a *App) newPolicyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check, show and test policy files",
	}
	var format outputFormat
	check := &cobra.Command{
		Use:   "check FILE [--format table|json|csv]",
		Short: "Check a policy file; print what it allows, or the key and line that is wrong",
		Long: `check loads a policy file as serve and replay would, and prints what it allows, or the
key and line that is wrong (exit 1). It compiles each custom rule (customRules) and says whether
it compiled; one that does not is named with its line, and the check fails (exit 1). With
--format json or csv it prints one line (row) per rule, built-in and custom: the rule's mode
and severity beside what the whole policy sets.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// policyfile, not loadPolicy: a custom rule that does not compile
			// is listed with the others, and then refused.
			p, err := policyfile.Load(args[0])
			if err != nil {
				return err
			}
			rows, compileErr := policyRules(args[0], p)
			out := cmd.OutOrStdout()
			if format != formatTable {
				if err := writeListing(out, format, 0, rows, policyRuleColumns, false); err != nil {
					return err
				}
				return compileErr
			}
			if compileErr != nil {
				fmt.Fprintf(out, "%s: refused: a custom rule does not compile\n", args[0])
			} else {
				fmt.Fprintf(out, "%s: valid\n", args[0])
			}
			fmt.Fprintf(out, "cloud: %s\nallowed: %s\n", p.Cloud, p.AllowedSummary())
			if len(p.Scope.Subscriptions) > 0 {
				fmt.Fprintf(out, "scope: %s\n", strings.Join(p.Scope.Subscriptions, ", "))
			}
			for _, r := range rows {
				if r.Compiled == nil {
					fmt.Fprintf(out, "rule %s: %s, severity %s\n", r.Rule, r.Mode, r.Severity)
					continue
				}
				status := "compiled"
				if !*r.Compiled {
					status = "does not compile (below)"
				}
				fmt.Fprintf(out, "custom rule %s: %s, severity %s, types %s: %s\n", r.Rule, r.Mode, r.Severity, strings.Join(r.Types, ", "), status)
			}
			fmt.Fprintf(out, "remediation: %s\nexemptions: %d\nroster: %d principal(s)\n", p.Remediation.Mode, len(p.Exemptions), len(p.Roster))
			return compileErr
		},
	}
	addFormatFlag(check, &format, "rule")
	show := &cobra.Command{
		Use:   "show [FILE]",
		Short: "Print the effective policy (the built-in default, or FILE over it) as YAML",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 1 {
				path = args[0]
			}
			p, err := loadPolicy(path)
			if err != nil {
				return err
			}
			// Webhook URLs are secrets: show env:NAME references, never a URL.
			for _, t := range []*guard.Target{&p.Notify.Teams, &p.Notify.Slack, &p.Notify.Webhook} {
				if t.URL != "" && !strings.HasPrefix(t.URL, "env:") {
					t.URL = "[redacted]"
				}
			}
			b, err := policyfile.Marshal(p)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	cmd.AddCommand(check, show, a.newPolicyTestCommand()) // policytest_cmd.go
	return cmd
}

// policyRule is one rule of a checked policy, with what the policy sets for
// all rules: a line of policy check --format json. Types, Compiled and Error
// are a custom rule's.
type policyRule struct {
	File          string   `json:"file"`
	Cloud         string   `json:"cloud"`
	Allowed       string   `json:"allowed"`
	Subscriptions []string `json:"subscriptions"`
	Rule          string   `json:"rule"`
	Mode          string   `json:"mode"`
	Severity      string   `json:"severity"`
	Remediation   string   `json:"remediation"`
	Exemptions    int      `json:"exemptions"`
	Roster        int      `json:"roster"`
	Types         []string `json:"types,omitempty"`
	Compiled      *bool    `json:"compiled,omitempty"`
	Error         string   `json:"error,omitempty"`
}

// policyRules lists the built-in rules, then the custom ones, each compiled;
// the error joins those that do not compile (each names its ID and line).
func policyRules(file string, p *guard.Policy) ([]policyRule, error) {
	out := make([]policyRule, 0, len(guard.RuleIDs)+len(p.CustomRules))
	subs := p.Scope.Subscriptions
	if subs == nil {
		subs = []string{} // [] in JSON, not null
	}
	row := func(id string) policyRule {
		return policyRule{File: file, Cloud: p.Cloud, Allowed: p.AllowedSummary(), Subscriptions: subs,
			Rule: id, Mode: string(p.RuleMode(id)), Severity: p.Severity(id), Remediation: string(p.Remediation.Mode),
			Exemptions: len(p.Exemptions), Roster: len(p.Roster)}
	}
	for _, id := range guard.RuleIDs {
		out = append(out, row(id))
	}
	var errs []error
	for _, def := range p.CustomRules {
		r := row(def.ID)
		_, err := customrule.New(def, resourcemanager.PinnedTypes())
		ok := err == nil
		r.Types, r.Compiled = def.Types, &ok
		if err != nil {
			r.Error = err.Error()
			errs = append(errs, err)
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

var policyRuleColumns = []column[policyRule]{
	{csv: "file", cell: func(r policyRule) string { return r.File }},
	{csv: "cloud", cell: func(r policyRule) string { return r.Cloud }},
	{csv: "allowed", cell: func(r policyRule) string { return r.Allowed }},
	{csv: "subscriptions", cell: func(r policyRule) string { return strings.Join(r.Subscriptions, " ") }},
	{csv: "rule", cell: func(r policyRule) string { return r.Rule }},
	{csv: "mode", cell: func(r policyRule) string { return r.Mode }},
	{csv: "severity", cell: func(r policyRule) string { return r.Severity }},
	{csv: "remediation", cell: func(r policyRule) string { return r.Remediation }},
	{csv: "exemptions", cell: func(r policyRule) string { return strconv.Itoa(r.Exemptions) }},
	{csv: "roster", cell: func(r policyRule) string { return strconv.Itoa(r.Roster) }},
	{csv: "types", cell: func(r policyRule) string { return strings.Join(r.Types, " ") }},
	{csv: "compiled", cell: func(r policyRule) string {
		if r.Compiled == nil {
			return ""
		}
		return strconv.FormatBool(*r.Compiled)
	}},
	{csv: "error", cell: func(r policyRule) string { return r.Error }},
}
