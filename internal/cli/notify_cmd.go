package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/notify"
)

func (a *App) newNotifyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notify",
		Short: "Notification targets (Teams, Slack, webhook)",
		Long: `exportguard tells people of finding transitions in Teams (an Adaptive Card to a
Workflows webhook), Slack (Block Kit blocks to an incoming webhook) and any system
that takes CloudEvents (a webhook), as the policy's notify.teams.url,
notify.slack.url and notify.webhook.url say. A URL may be written env:NAME to read
it from the environment; URLs are secrets and are never printed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newNotifyTestCommand())
	return cmd
}

func (a *App) newNotifyTestCommand() *cobra.Command {
	var policyPath string
	cmd := &cobra.Command{
		Use:   "test [--policy FILE]",
		Short: "Send a sample card to every configured notification target",
		Long: `test sends one sample message, marked as a test, to each notification target the
policy configures, now and outside the outbox, and reports per target (by name,
never by URL) whether it was delivered. It exits non-zero if any target failed.

The policy is --policy, else the file EXPORTGUARD_POLICY names, else the built-in
default (which configures no target). EXPORTGUARD_PUBLIC_URL, when set, is the
events' source.`,
		Example: "  EXPORTGUARD_TEAMS_URL=… exportguard notify test --policy policy.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if policyPath == "" {
				policyPath = a.getenv(envPolicy)
			}
			pol, err := loadPolicy(policyPath)
			if err != nil {
				return err
			}
			if len(notifyTargets(pol)) == 0 {
				return errors.New("no notification target: the policy sets none of notify.teams.url, notify.slack.url, notify.webhook.url")
			}
			log, err := a.logger(cmd, "warn")
			if err != nil {
				return err
			}
			planner, err := a.notifyPlanner(pol)
			if err != nil {
				return err
			}
			senders, err := a.notifySenders(pol, nil, log)
			if err != nil {
				return err
			}
			now := a.now()
			if a.Notify.Wall != nil {
				now = a.Notify.Wall()
			}
			sample := planner.Sample(now)
			failed := 0
			for _, s := range senders {
				status, err := s.Deliver(cmd.Context(), notify.SampleID(now, s.Kind()), sample)
				if err != nil {
					failed++
					fmt.Fprintf(cmd.OutOrStdout(), "%s: failed: %s\n", s.Target(), strings.TrimPrefix(err.Error(), s.Target()+": "))
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: delivered (HTTP %d)\n", s.Target(), status)
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d notification target(s) failed", failed, len(senders))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&policyPath, "policy", "", "policy file (YAML); EXPORTGUARD_POLICY, else the built-in default, when empty")
	return cmd
}
