package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
)

func (a *App) newPolicyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check and show policy files",
	}
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Check a policy file; print what it allows, or the key and line that is wrong",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := policyfile.Load(args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
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
	cmd.AddCommand(check, show)
	return cmd
}
