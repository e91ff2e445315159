package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/eventhubs"
	"github.com/exportguard/exportguard/pkg/recorder"
	"github.com/exportguard/exportguard/pkg/session"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// envEventHubConnectionString, when set, authenticates record and
// replay --to-eventhub with a connection string (shared access signature, or
// the Event Hubs emulator's) instead of Entra ID.
const envEventHubConnectionString = "EXPORTGUARD_EVENTHUB_CONNECTION_STRING"

// recordConsumerGroup is the consumer group record reads as by default: the one
// infra/eventhubs.tf and the local emulator keep for it. The function app reads
// as exportguard; a second reader in its group would take partitions from it.
const recordConsumerGroup = "exportguard-record"

func (a *App) newRecordCommand() *cobra.Command {
	var hub, group, since, cloudName, policyPath, output, logLevel string
	var force bool
	cmd := &cobra.Command{
		Use:   "record --eventhub NAMESPACE/HUB [--consumer-group G] [--since T] -o FILE",
		Short: "Record Activity Log messages from Event Hubs, and the resources they changed, as a session",
		Long: `record reads the Activity Log messages a diagnostic setting streams to an event hub,
from every partition, and writes them as a recorded session (JSON lines, DESIGN 3.2) that
exportguard replay plays back offline with the same verdicts:

  - one eventhub line per message, its body as the hub delivered it;
  - before it, an arm line for every resource the pipeline reads to judge the message's
    succeeded changes (the changed resource, and what the rules gather around it: a VM's
    network interfaces, subnets and security groups, a SQL server's TDE protector), as
    ARM returns it at that moment;
  - a clock line at every tick of the sweep timer (functions/sweep/function.json) that the
    messages' enqueued times, or the wall clock while the hub is quiet, pass, preceded by
    what that sweep read.

To know what to read, record runs the pipeline itself, in memory, with the policy given.
It notifies and remediates nothing: replaying the recording reaches its verdicts when replay
does not remediate either (remediation off, dry-run, or waiting for approval); with auto,
replay fixes the session's resources itself and judges what follows from that. An arm line's observedAt is the time of the line it
serves (the message's enqueued time, the tick), so that replay answers the read with it;
readAt says when it was really read. A resource ARM cannot read (no Reader role, throttled
for too long) is reported on stderr and answered, as replay will, with what the session
knew of it.

NAMESPACE is a short name (guard-eh, which gets the cloud's suffix: servicebus.windows.net,
or servicebus.usgovcloudapi.net in Azure Government) or a host name
(guard-eh.servicebus.usgovcloudapi.net), whose suffix names the cloud. --cloud, else the
host name, else the policy's cloud, picks the cloud the credential signs in to (ARM too).
Authentication is DefaultAzureCredential (az login, managed identity; AZURE_CLIENT_ID for a
user-assigned one), or the connection string in ` + envEventHubConnectionString + `
(e.g. the Event Hubs emulator's). The identity needs Azure Event Hubs Data Receiver on the
hub and Reader on what it guards.

Without --since, only messages enqueued from now on are read. Ctrl-C stops it: every line
written so far stays whole and the file is synced and closed; a message in hand whose reads
were not finished is left out, whole.`,
		Example: "  exportguard record --eventhub guard-eh/insights-activity-logs --consumer-group exportguard-record -o today.ndjson\n" +
			"  exportguard record --eventhub guard-eh.servicebus.usgovcloudapi.net/insights-activity-logs --since 2h -o gov.ndjson\n" +
			"  exportguard replay today.ndjson",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var stats recorder.Stats
			var target eventhubs.Target
			prog := a.newProgress(cmd.ErrOrStderr(), 0, func() string { return fmt.Sprintf("recording %s: %s", target, stats) })
			defer prog.stop()
			stderr := prog.writer(cmd.ErrOrStderr())
			if hub == "" {
				return errors.New("--eventhub NAMESPACE/HUB is required")
			}
			if output == "" {
				return errors.New("-o FILE is required")
			}
			log, err := a.logger(cmd, logLevel)
			if err != nil {
				return err
			}
			pol, err := loadPolicy(policyPath)
			if err != nil {
				return err
			}
			start := a.now().UTC()
			from, err := parseSince(since, start)
			if err != nil {
				return err
			}
			target, err = resolveEventHub(hub, cloudName, pol.Cloud)
			if err != nil {
				return err
			}
			cs := a.getenv(envEventHubConnectionString)
			if cs != "" {
				if target, err = target.WithConnectionString(cs); err != nil {
					return fmt.Errorf("%s: %w", envEventHubConnectionString, err)
				}
			}
			armCloud := firstNonEmpty(cloudName, target.Cloud, pol.Cloud)
			if pol.Cloud != "" && armCloud != pol.Cloud {
				fmt.Fprintf(stderr, "note: the policy's cloud is %s, the hub's is %s; the policy's regions judge what is recorded\n", pol.Cloud, armCloud)
			}
			cred, err := eventhubs.NewCredential(armCloud)
			if err != nil {
				return err
			}
			live, err := a.armReader(armCloud, cred)
			if err != nil {
				return err
			}
			sched, err := a.sweepSchedule()
			if err != nil {
				return err
			}
			reconcileSched, err := a.reconcileSchedule()
			if err != nil {
				return err
			}
			out, err := session.Create(output, force)
			if err != nil {
				return err
			}
			a.announce(stderr, "connecting to %s (%s)", target, eventHubAuth(cs))
			recv, err := a.openReceiver(ctx, target, eventhubs.ConsumerOptions{
				Options:       eventhubs.Options{Credential: cred, ConnectionString: cs},
				ConsumerGroup: group,
				Since:         from,
			})
			if err != nil {
				out.Close()
				os.Remove(output) // nothing was recorded
				return err
			}
			st, err := sqlite.Open(ctx, ":memory:")
			if err != nil {
				_ = recv.Close(ctx)
				out.Close()
				os.Remove(output) // nothing was recorded
				return err
			}
			recRules, err := a.pipelineRules(pol, log) // the rules replay will run
			if err != nil {
				return err
			}
			rec := &recorder.Recorder{Receiver: hubReceiver{recv}, Live: live, Policy: pol, Rules: recRules, Schedule: sched, Reconcile: reconcileSched,
				Store: st, Out: out, Log: log, Warn: stderr, Start: start, Now: a.Now,
				Progress: func(s recorder.Stats) { stats = s; prog.tick(0) }}
			fmt.Fprintf(stderr, "recording %s (consumer group %s, from %s) to %s; Ctrl-C stops\n",
				target, group, sinceText(from), output)
			runErr := rec.Run(ctx)
			closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_ = recv.Close(closeCtx)
			closeErr := out.Close()
			prog.stop()
			fmt.Fprintf(stderr, "recorded to %s: %s\n", output, rec.Stats())
			if s := rec.FindingsSummary(closeCtx); s != "" {
				fmt.Fprintf(stderr, "replay will find: %s\n", s)
			}
			rec.Close()
			return errors.Join(runErr, closeErr)
		},
	}
	cmd.Flags().StringVar(&hub, "eventhub", "", "the hub to read: NAMESPACE/HUB (short name or host name)")
	cmd.Flags().StringVar(&group, "consumer-group", recordConsumerGroup, "consumer group to read as: infra/ creates "+recordConsumerGroup+" for record, so that it never takes partitions from the function app's")
	cmd.Flags().StringVar(&since, "since", "", "start at messages enqueued at or after this time (RFC 3339) or this long ago (90m, PT2H); default: new messages only")
	cmd.Flags().StringVar(&cloudName, "cloud", "", "AzureCloud or AzureUSGovernment (default: the namespace's, else the policy's)")
	cmd.Flags().StringVar(&policyPath, "policy", "", "policy file (YAML) the recording is judged with; the built-in default when empty")
	cmd.Flags().StringVarP(&output, "output", "o", "", "session file to write (JSON lines)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite the session file if it exists")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "log level on stderr: debug, info, warn, error")
	return cmd
}

// resolveEventHub reads NAMESPACE/HUB. The cloud named by --cloud wins; a
// short name otherwise takes the policy's cloud, and a host name its own.
func resolveEventHub(s, flagCloud, policyCloud string) (eventhubs.Target, error) {
	cloud := flagCloud
	if cloud == "" && eventhubs.ShortName(s) {
		cloud = policyCloud
	}
	return eventhubs.ParseTarget(s, cloud)
}

func sinceText(t time.Time) string {
	if t.IsZero() {
		return "now on"
	}
	return t.Format(time.RFC3339)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// hubReceiver is a hub's receiver as the recorder takes it.
type hubReceiver struct{ r eventhubs.Receiver }

func (h hubReceiver) Receive(ctx context.Context) ([]recorder.Event, error) {
	evs, err := h.r.Receive(ctx)
	out := make([]recorder.Event, len(evs))
	for i, ev := range evs {
		out[i] = recorder.Event(ev)
	}
	return out, err
}
