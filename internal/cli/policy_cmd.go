package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
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
key and line that is wrong (exit 1). With --format json or csv it prints one line (row) per
rule: the rule's mode and severity beside what the whole policy sets.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := policyfile.Load(args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format != formatTable {
				return writeListing(out, format, 0, policyRules(args[0], p), policyRuleColumns, false)
			}
			fmt.Fprintf(out, "%s: valid\ncloud: %s\nallowed: %s\n", args[0], p.Cloud, p.AllowedSummary())
			if len(p.Scope.Subscriptions) > 0 {
				fmt.Fprintf(out, "scope: %s\n", strings.Join(p.Scope.Subscriptions, ", "))
			}
			for _, id := range guard.RuleIDs {
				fmt.Fprintf(out, "rule %s: %s, severity %s\n", id, p.RuleMode(id), p.Severity(id))
			}
			fmt.Fprintf(out, "remediation: %s\nexemptions: %d\nroster: %d principal(s)\n", p.Remediation.Mode, len(p.Exemptions), len(p.Roster))
			return nil
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
			p, err := policyfile.Load(path)
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
// all rules: a line of policy check --format json.
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
}

func policyRules(file string, p *guard.Policy) []policyRule {
	out := make([]policyRule, 0, len(guard.RuleIDs))
	subs := p.Scope.Subscriptions
	if subs == nil {
		subs = []string{} // [] in JSON, not null
	}
	for _, id := range guard.RuleIDs {
		out = append(out, policyRule{File: file, Cloud: p.Cloud, Allowed: p.AllowedSummary(), Subscriptions: subs,
			Rule: id, Mode: string(p.RuleMode(id)), Severity: p.Severity(id), Remediation: string(p.Remediation.Mode),
			Exemptions: len(p.Exemptions), Roster: len(p.Roster)})
	}
	return out
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
}
