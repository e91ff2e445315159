package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/remediate"
	"github.com/exportguard/exportguard/pkg/resourcemanager"
)

func (a *App) newRemediateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remediate",
		Short: "List, approve and run pending remediations",
		Long: `Remediation plans wait in the store's outbox: those the policy runs at once (auto), those
that wait for a person (approve, and destructive SQL actions always), and those that failed,
kept with the reason. These verbs work on a store that exists (--store, default
$EXPORTGUARD_STORE, else ` + defaultStore + `).

  list      every plan kept, with its state (awaiting-approval, approved, planned, retrying, failed)
  approve   approve a plan that waits for a person: it runs at the next dispatch (or remediate run)
  deny      deny it: it is kept as failed with your name and reason
  run       carry out the plans that are due now, against ARM, in the policy's cloud

At a terminal the approver is the OS user, and the record says so: it is not an Entra ID
principal. Approvals through the api function carry the principal App Service authentication
vouched for. An approval is good for 24 hours; a plan nobody approves expires after 7 days.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newRemediateListCommand(), a.newRemediateDecideCommand("approve"), a.newRemediateDecideCommand("deny"), a.newRemediateRunCommand())
	return cmd
}

func (a *App) remediateStore(cmd *cobra.Command, storeURL string) (guard.Store, error) {
	if storeURL == "" {
		storeURL = a.envOr(envStore, defaultStore)
	}
	return a.openExistingStore(cmd.Context(), "remediate", storeURL)
}

func (a *App) newRemediateListCommand() *cobra.Command {
	var storeURL string
	var format outputFormat
	cmd := &cobra.Command{
		Use:     "list [--store URL] [--format table|json|csv]",
		Short:   "List the remediation plans kept in the store, with their state",
		Example: "  exportguard remediate list --store sqlite:exportguard.db",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.remediateStore(cmd, storeURL)
			if err != nil {
				return err
			}
			defer st.Close()
			ps, err := (&remediate.Approvals{Store: st}).List(cmd.Context(), "")
			if err != nil {
				return err
			}
			if format == formatTable && len(ps) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no remediation plans")
				return nil
			}
			return writeListing(cmd.OutOrStdout(), format, a.tableWidth(cmd.OutOrStdout()), ps, planColumns, false)
		},
	}
	cmd.Flags().StringVar(&storeURL, "store", "", storeFlagHelp)
	addFormatFlag(cmd, &format, "plan")
	return cmd
}

// planColumns are the columns of remediation plans: the resource's name and
// group in a table, its full ID in csv.
var planColumns = []column[remediate.Pending]{
	{table: "STATE", csv: "state", cell: func(p remediate.Pending) string { return p.State }},
	{table: "FINDING", csv: "findingId", cell: func(p remediate.Pending) string { return p.Plan.FindingID }},
	{table: "RULE", csv: "rule", cell: func(p remediate.Pending) string { return p.Plan.Rule }},
	{table: "ACTION", csv: "action", cell: func(p remediate.Pending) string { return p.Plan.Action.Description }},
	{table: "RESOURCE", csv: "resourceName", cell: func(p remediate.Pending) string { return resourceName(p.Plan.ResourceID) }},
	{table: "GROUP", cell: func(p remediate.Pending) string { return orDash(resourceGroup(p.Plan.ResourceID)) }},
	{csv: "resourceGroup", cell: func(p remediate.Pending) string { return resourceGroup(p.Plan.ResourceID) }},
	{csv: "subscriptionId", cell: func(p remediate.Pending) string { return p.Plan.SubscriptionID }},
	{csv: "resourceId", cell: func(p remediate.Pending) string { return p.Plan.ResourceID }},
	{table: "PLANNED", csv: "plannedAt", cell: func(p remediate.Pending) string { return p.Plan.PlannedAt.Format(time.RFC3339) }},
	{table: "NOTE", csv: "note", cell: planNote},
}

// planNote is why a plan is in its state: its error, or who must approve by
// when, or who approved it.
func planNote(p remediate.Pending) string {
	switch {
	case p.Item.Failed || p.Item.LastError != "":
		return p.Item.LastError
	case p.State == remediate.StateAwaiting:
		return "approve by " + p.Plan.ApproveBy.Format(time.RFC3339) + ": " + p.Plan.ApprovalReason
	case p.Plan.Approval != nil:
		return "approved by " + p.Plan.Approval.Approver.String() + ": " + p.Plan.Approval.Reason
	}
	return ""
}

// terminalApprover is the OS user, said to be one.
func terminalApprover() remediate.Approver {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		name += "@" + h
	}
	return remediate.Approver{Name: name, Via: "terminal: the OS user running exportguard remediate, not an Entra ID principal"}
}

func (a *App) newRemediateDecideCommand(verb string) *cobra.Command {
	var storeURL, reason, at string
	short := map[string]string{
		"approve": "Approve a remediation plan that waits for a person",
		"deny":    "Deny a remediation plan that waits for a person",
	}[verb]
	cmd := &cobra.Command{
		Use:   verb + " ID --reason TEXT [--store URL]",
		Short: short,
		Long: short + `. ID is the finding's ID (or the plan's, as list shows it).
The approver recorded is the OS user running this command.

A plan waits for a decision until its deadline (remediate list: "approve by"), 7 days after
it was planned. A store that replay filled holds plans made at the session's clock: decide
them at that clock with --now (a time between the plan and its deadline), and replay the
session into the store again to carry the approved plan out against the session's ARM.`,
		Example: "  exportguard remediate " + verb + " 3f9c0a1b2c3d4e5f60718293a4b5c6d7 --reason \"change CHG-1042\"",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return errors.New("--reason is required: say why, for the record")
			}
			st, err := a.remediateStore(cmd, storeURL)
			if err != nil {
				return err
			}
			defer st.Close()
			clock := a.now
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return usageErrorf("--now %q: want an RFC 3339 time (2026-11-18T10:00:00Z)", at)
				}
				clock = func() time.Time { return t }
			}
			approvals := &remediate.Approvals{Store: st, Now: clock}
			who := terminalApprover()
			var p *remediate.Plan
			if verb == "approve" {
				p, err = approvals.Approve(cmd.Context(), args[0], who, reason)
			} else {
				p, err = approvals.Deny(cmd.Context(), args[0], who, reason)
			}
			if err != nil {
				return decisionError(cmd.Context(), approvals, verb, args[0], clock(), err)
			}
			if verb == "approve" {
				fmt.Fprintf(cmd.OutOrStdout(), "approved by %s: %s\n  %s\n  runs at the next dispatch (or exportguard remediate run); the approval expires at %s\n",
					who, p.FindingID, p.Action.Description, p.Approval.ExpiresAt.Format(time.RFC3339))
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "denied by %s: %s\n  %s\n", who, p.FindingID, p.Action.Description)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&storeURL, "store", "", storeFlagHelp)
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; it goes on the record)")
	cmd.Flags().StringVar(&at, "now", "", "the decision's clock, RFC 3339 (for a store replay filled: a time of the session); default the current time")
	return cmd
}

// decisionError says why a plan could not be decided, in words for the person
// at the terminal: the approvals' errors wrap guard.ErrConflict and
// guard.ErrNotFound for the api's status codes, which mean nothing here. An
// expired plan is named with its deadline and what to do.
func decisionError(ctx context.Context, approvals *remediate.Approvals, verb, ref string, now time.Time, err error) error {
	switch {
	case errors.Is(err, remediate.ErrExpired):
		ps, _ := approvals.List(ctx, "")
		for i := len(ps) - 1; i >= 0; i-- {
			p := ps[i].Plan
			if ps[i].State != remediate.StateAwaiting || (p.FindingID != ref && p.ID != ref && ps[i].Item.ID != ref) {
				continue
			}
			return fmt.Errorf("%s %s: the plan expired unapproved at %s (planned at %s; the clock is %s). "+
				"A store replay filled holds plans made at the session's clock: decide at that clock, with --now %s",
				verb, ref, p.ApproveBy.Format(time.RFC3339), p.PlannedAt.Format(time.RFC3339), now.UTC().Format(time.RFC3339),
				p.PlannedAt.Add(time.Minute).Format(time.RFC3339))
		}
		return fmt.Errorf("%s %s: the plan expired unapproved", verb, ref)
	case errors.Is(err, remediate.ErrNoPlan):
		return fmt.Errorf("%s %s: no remediation plan of that finding or ID is kept in the store (remediate list shows them)", verb, ref)
	case errors.Is(err, remediate.ErrNotAwaiting):
		return fmt.Errorf("%s %s: the plan does not await a decision: already approved, denied, expired or run (remediate list shows its state)", verb, ref)
	case errors.Is(err, remediate.ErrFindingMoved):
		return fmt.Errorf("%s %s: the finding is no longer open from the change the plan was made for: nothing to decide", verb, ref)
	}
	return fmt.Errorf("%s %s: %w", verb, ref, err)
}

func (a *App) newRemediateRunCommand() *cobra.Command {
	var storeURL, policyPath, logLevel string
	cmd := &cobra.Command{
		Use:   "run [--store URL] [--policy FILE]",
		Short: "Carry out the remediation plans that are due now, against ARM",
		Long: `run dispatches the remediation plans that are due (auto plans, approved plans, retries, and
plans whose approval deadline passed, which are closed), once, and leaves every other outbox
item (notifications) alone. Each plan is checked against the policy in force (--policy, default
$EXPORTGUARD_POLICY, else the built-in policy): its mode, and scope.subscriptions, the only
subscriptions ever written. ARM is reached in the policy's cloud, signed in with
DefaultAzureCredential. The exit status is 1 when any plan failed (remediate list shows why).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := a.logger(cmd, logLevel)
			if err != nil {
				return err
			}
			if policyPath == "" {
				policyPath = a.getenv(envPolicy)
			}
			pol, err := loadPolicy(policyPath)
			if err != nil {
				return err
			}
			st, err := a.remediateStore(cmd, storeURL)
			if err != nil {
				return err
			}
			defer st.Close()
			a.announce(cmd.ErrOrStderr(), "signing in to %s ARM (DefaultAzureCredential)", pol.Cloud)
			client, err := a.newARM(pol.Cloud, resourcemanager.Options{})
			if err != nil {
				return err
			}
			ex := &remediate.Executor{Store: st, Policy: pol, Log: log, Reader: client, Writer: resourcemanager.NewWriter(client)}
			return runRemediation(cmd.Context(), cmd.OutOrStdout(), st, ex, a.now(), log)
		},
	}
	cmd.Flags().StringVar(&storeURL, "store", "", storeFlagHelp)
	cmd.Flags().StringVar(&policyPath, "policy", "", "policy file (YAML); default $EXPORTGUARD_POLICY, else the built-in policy")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "log level on stderr: debug, info, warn, error")
	return cmd
}

// runRemediation dispatches the due remediation plans once, saying what became
// of each.
func runRemediation(ctx context.Context, w io.Writer, st guard.Store, ex guard.Sender, now time.Time, log *slog.Logger) error {
	n := 0
	say := guard.SenderFunc(func(ctx context.Context, it guard.OutboxItem, now time.Time) error {
		n++
		err := ex.Send(ctx, it, now)
		switch {
		case err == nil:
			fmt.Fprintf(w, "%s: done\n", it.ID)
		default:
			fmt.Fprintf(w, "%s: %v\n", it.ID, err)
		}
		return err
	})
	d := &guard.Dispatcher{Outbox: remediate.OnlyRemediation(st), Senders: map[string]guard.Sender{remediate.Kind: say}, Log: log}
	sum, err := d.Run(ctx, now)
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintln(w, "no remediation plan is due")
		return nil
	}
	fmt.Fprintf(w, "%d done, %d to be retried, %d failed (remediate list shows why)\n", sum.Delivered, sum.Retried, sum.Failed)
	if sum.Failed > 0 {
		return fmt.Errorf("remediate run: %d plan(s) failed", sum.Failed)
	}
	return nil
}
