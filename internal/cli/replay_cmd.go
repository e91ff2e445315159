package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/replay"
)

func (a *App) newReplayCommand() *cobra.Command {
	var policyPath, storeURL, logLevel, toEventHub string
	var format outputFormat
	var via string
	var compare string // what-if: replay_compare.go
	var failOn string
	cmd := &cobra.Command{
		Use:   "replay [--policy FILE] [--format table|json|csv] [--store URL] [--fail-on SEVERITY] SESSION...",
		Short: "Feed recorded sessions through the pipeline and print the findings",
		Long: `replay reads recorded sessions (JSON lines of eventhub, eventgrid, arm and clock
records, oldest first), drives them through the same pipeline the Functions handler
runs, answers resource reads from the session's arm lines at the replay clock, and
prints every finding: open, resolved and exempt.

Without --store it uses a fresh in-memory store, so two runs give the same answer.
A malformed line is reported on stderr with its line number and skipped; a session
with no readable line at all is a failure (exit 1).

With --fail-on SEVERITY the findings are printed as usual, then replay exits 3 when an
open finding (not resolved, not exempt) at or above that severity exists.`,
		Example: "  exportguard replay testdata/sessions/storage-replication.ndjson\n" +
			"  exportguard replay --format json --policy testdata/sessions/gov-storage-replication.policy.yaml testdata/sessions/gov-storage-replication.ndjson\n" +
			"  exportguard replay --policy testdata/whatif/new.yaml --compare testdata/whatif/old.yaml testdata/sessions/storage-replication.ndjson",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if compare != "" {
				return a.replayWhatIf(cmd, policyPath, compare, format, args)
			}
			if via != "" {
				return a.replayVia(cmd, via, args)
			}
			if toEventHub != "" {
				return a.replayToEventHub(cmd, toEventHub, policyPath, args)
			}
			if err := checkFailOn(failOn); err != nil {
				return err
			}
			var name string
			var lines int
			var read int64 // bytes of the sessions read
			prog := a.newProgress(cmd.ErrOrStderr(), sessionBytes(args), func() string { return fmt.Sprintf("%s: %d lines replayed", name, lines) })
			defer prog.stop()
			stdout, stderr := prog.writer(cmd.OutOrStdout()), prog.writer(cmd.ErrOrStderr())
			log, err := a.loggerTo(cmd, stderr, logLevel)
			if err != nil {
				return err
			}
			pol, err := loadPolicy(policyPath)
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
			ctx := cmd.Context()
			st, err := a.openStore(ctx, storeURL)
			if err != nil {
				return err
			}
			defer st.Close()
			pl, err := a.newPipeline(st, nil, pol, log)
			if err != nil {
				return err
			}
			replayLease(pl)
			var arms []*replay.ARM
			r := &replay.Replayer{Pipeline: pl, Schedule: sched, Reconcile: reconcileSched, Errors: stderr,
				// Remediation reads and writes the session's recorded ARM.
				Bind:     func(a *replay.ARM) { arms = append(arms, a); bindRemediation(pl, a) },
				Progress: func(n string, l int) { name, lines = filepath.Base(n), l; prog.tick(read) }}
			var total replay.Stats
			for _, path := range args {
				stats, err := replayFile(cmd, r, path, &read)
				total.Lines += stats.Lines
				total.BadLines += stats.BadLines
				total.Summary.Add(stats.Summary)
				if err != nil {
					return err
				}
			}
			fs, err := st.ListFindings(ctx, guard.FindingFilter{})
			if err != nil {
				return fmt.Errorf("list findings: %w", err)
			}
			sortFindings(fs)
			prog.stop()
			if err := printFindings(stdout, format, a.tableWidth(stdout), fs); err != nil {
				return err
			}
			if format != formatTable {
				return failOnGate(failOn, fs)
			}
			writes := 0
			for _, arm := range arms {
				writes += len(arm.Writes())
			}
			remediated := ""
			if writes > 0 {
				remediated = fmt.Sprintf("; %d remediation write(s) to the session's ARM", writes)
			}
			fmt.Fprintf(stderr, "%d line(s), %d malformed; %d change(s), %d duplicate(s), %d kept as poison; %s%s\n",
				total.Lines, total.BadLines, total.Changes, total.Duplicates, total.Rejected, countStatuses(fs), remediated)
			return failOnGate(failOn, fs)
		},
	}
	cmd.Flags().StringVar(&policyPath, "policy", "", "policy file (YAML); the built-in default when empty")
	addFormatFlag(cmd, &format, "finding")
	cmd.Flags().StringVar(&storeURL, "store", "memory:", "store URL: memory:, sqlite:PATH or cosmos:https://HOST:PORT/?database=NAME")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "log level on stderr: debug, info, warn, error")
	cmd.Flags().StringVar(&failOn, "fail-on", "", failOnFlagHelp)
	cmd.Flags().StringVar(&compare, "compare", "", compareFlagHelp)
	// --compare replays into fresh in-memory stores, here.
	cmd.MarkFlagsMutuallyExclusive("compare", "store")
	cmd.Flags().StringVar(&via, "via", "", viaFlagHelp)
	cmd.Flags().StringVar(&toEventHub, "to-eventhub", "", toEventHubFlagHelp)
	cmd.MarkFlagsMutuallyExclusive("compare", "via")
	cmd.MarkFlagsMutuallyExclusive("compare", "to-eventhub")
	// --fail-on judges the findings of this run, which --compare and
	// --to-eventhub do not print.
	cmd.MarkFlagsMutuallyExclusive("fail-on", "compare")
	cmd.MarkFlagsMutuallyExclusive("fail-on", "to-eventhub")
	// The running app --via sends to uses its own store and policy, and its
	// findings are read there (exportguard remediate list, the api function).
	for _, f := range []string{"store", "policy", "format", "to-eventhub", "fail-on"} {
		cmd.MarkFlagsMutuallyExclusive("via", f)
	}
	return cmd
}

// replayFile replays one session, adding the bytes it reads to *read.
func replayFile(cmd *cobra.Command, r *replay.Replayer, path string, read *int64) (replay.Stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return replay.Stats{}, err
	}
	defer f.Close()
	stats, err := r.Run(cmd.Context(), path, counting{f, read})
	if err == nil && stats.Lines == stats.BadLines {
		// Nothing was replayed: a wrong file, not a quiet session.
		return stats, fmt.Errorf("%s: no readable line (%d malformed): not a recorded session", path, stats.BadLines)
	}
	return stats, err
}

// replayLease turns the outbox claims off for a replay. The lease
// (guard.Dispatcher.Lease) keeps an item from other instances while one sends
// it; a replay dispatches on its own clock, which jumps, and a replay killed
// mid-send and run again must send the item at the same tick, as the
// uninterrupted run does (TestFaultKillReplay), not after a lease of session
// time. serve keeps the default lease.
func replayLease(pl *guard.Pipeline) {
	if pl.Dispatcher == nil {
		return
	}
	pl.Dispatcher.Lease = -1
	for _, s := range pl.Dispatcher.Senders {
		if l, ok := s.(interface{ SetLease(time.Duration) }); ok {
			l.SetLease(-1)
		}
	}
}

// sortFindings orders findings by resourceId, then rule (DESIGN 3.1).
func sortFindings(fs []guard.Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := guard.IDKey(fs[i].ResourceID), guard.IDKey(fs[j].ResourceID)
		if a != b {
			return a < b
		}
		return fs[i].Rule < fs[j].Rule
	})
}

func countStatuses(fs []guard.Finding) string {
	n := map[guard.Status]int{}
	for _, f := range fs {
		n[f.Status]++
	}
	parts := []string{fmt.Sprintf("%d finding(s)", len(fs))}
	for _, s := range []guard.Status{guard.StatusOpen, guard.StatusResolved, guard.StatusExempt} {
		parts = append(parts, fmt.Sprintf("%d %s", n[s], s))
	}
	return strings.Join(parts, ", ")
}
