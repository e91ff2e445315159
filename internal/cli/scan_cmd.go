package cli

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/resourcegraph"
	"github.com/exportguard/exportguard/pkg/resourcemanager"
	"github.com/exportguard/exportguard/pkg/scan"
)

// defaultScanStore is where a scan keeps what it found when neither --store
// nor EXPORTGUARD_STORE says: serve's local default, so that a baseline is
// kept, the next scan compares with it, and serve run here starts from it.
const defaultScanStore = "sqlite:exportguard.db"

func (a *App) newScanCommand() *cobra.Command {
	var subs []string
	var failOn string
	var policyPath, storeURL, logLevel string
	var format outputFormat
	cmd := &cobra.Command{
		Use:   "scan [--subscription ID]... [--policy FILE] [--store URL] [--format table|json|csv] [--fail-on SEVERITY]",
		Short: "Judge every resource of the subscriptions, read through Azure Resource Graph",
		Long: `scan reads every resource of the types the policy's rules judge in the subscriptions
(--subscription, repeatable; by default the policy's scope.subscriptions) through Azure
Resource Graph, and judges each as the daily reconcile does. The first scan of an estate
is its baseline: what was wrong before the guard was installed is found without waiting
for someone to touch it.

A Resource Graph row may open a finding; a resolution it suggests is confirmed by an ARM
read first (Resource Graph may lag behind ARM). ARM is also read for each subscription's
diagnostic settings, for the open findings of the types Resource Graph does not hold, and
for every resource the store knows that Resource Graph no longer lists: only ARM's 404
closes its findings. Nothing is taken as gone after a scan that failed, or in a
subscription Resource Graph did not show (no read access).

The store is --store, else $EXPORTGUARD_STORE, else sqlite:exportguard.db in the current
directory (serve's local default), so the baseline is kept; --store memory: forgets it.
stdout holds the findings of the scanned subscriptions only (every status; with --format
json one per line, sorted, as replay prints them; --format csv for a spreadsheet); progress and a summary go to stderr.

Signs in with azidentity's default credential (az login, a managed identity, or the
AZURE_* environment) in the policy's cloud; it needs Reader on the subscriptions.
Notifications and remediation plans the findings call for are kept in the store's outbox,
for serve to deliver.`,
		Example: "  exportguard scan --subscription 5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\n" +
			"  exportguard scan --policy policy.yaml --format json > baseline.ndjson\n" +
			"  exportguard scan --store memory: --subscription SUB1 --subscription SUB2",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFailOn(failOn); err != nil {
				return err
			}
			rows := 0
			prog := a.newProgress(cmd.ErrOrStderr(), 0, func() string { return fmt.Sprintf("scan: %d resources judged", rows) })
			defer prog.stop()
			stdout, stderr := prog.writer(cmd.OutOrStdout()), prog.writer(cmd.ErrOrStderr())
			log, err := a.loggerTo(cmd, stderr, logLevel)
			if err != nil {
				return err
			}
			p, err := loadPolicy(policyPath)
			if err != nil {
				return err
			}
			subs, err := scanSubscriptions(subs, p)
			if err != nil {
				return err
			}
			if storeURL == "" {
				storeURL = a.envOr(envStore, defaultScanStore)
			}
			reader, err := a.newARM(p.Cloud, resourcemanager.Options{})
			if err != nil {
				return err
			}
			graph, err := resourcegraph.New(reader.Credential(), resourcegraph.Options{ARM: reader.ClientOptions(), Logger: log,
				Total: func(n int) { prog.grow(int64(n)) }})
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := a.openStore(ctx, storeURL)
			if err != nil {
				return err
			}
			defer st.Close()
			pl, err := a.newPipeline(st, reader, p, log)
			if err != nil {
				return err
			}
			sc := &scan.Scanner{Pipeline: pl, Graph: graph, Log: log, Reads: reader.Budget().Reads,
				Progress: func(n int) { rows = n; prog.tick(int64(n)) }}
			a.announce(stderr, "scanning %d subscription(s) in %s with Resource Graph (signing in with DefaultAzureCredential)", len(subs), p.Cloud)
			rep, scanErr := sc.Run(ctx, a.now(), subs)
			prog.stop()
			all, err := st.ListFindings(ctx, guard.FindingFilter{})
			if err != nil {
				return fmt.Errorf("list findings: %w", err)
			}
			var fs []guard.Finding
			for _, f := range all {
				if slices.Contains(subs, strings.ToLower(f.SubscriptionID)) {
					fs = append(fs, f)
				}
			}
			sortFindings(fs)
			if err := printFindings(stdout, format, a.tableWidth(stdout), fs); err != nil {
				return err
			}
			printScanSummary(stderr, rep, fs, reader.Budget())
			if scanErr != nil {
				return scanErr
			}
			return failOnGate(failOn, fs)
		},
	}
	cmd.Flags().StringArrayVar(&subs, "subscription", nil, "subscription ID to scan (repeatable); default: the policy's scope.subscriptions")
	cmd.Flags().StringVar(&policyPath, "policy", "", "policy file (YAML); the built-in default when empty")
	addFormatFlag(cmd, &format, "finding")
	cmd.Flags().StringVar(&storeURL, "store", "", "store URL: sqlite:PATH, memory: or cosmos:https://HOST:PORT/?database=NAME (default $EXPORTGUARD_STORE, else "+defaultScanStore+")")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "log level on stderr: debug, info, warn, error")
	cmd.Flags().StringVar(&failOn, "fail-on", "", failOnFlagHelp)
	return cmd
}

var subscriptionGUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// scanSubscriptions are the subscriptions to scan: those given, else the
// policy's scope; each a GUID, in scope, in lower case, once.
func scanSubscriptions(given []string, p *guard.Policy) ([]string, error) {
	from := given
	if len(from) == 0 {
		from = p.Scope.Subscriptions
	}
	if len(from) == 0 {
		return nil, fmt.Errorf("no subscription to scan: give --subscription ID (repeatable), or list them in the policy's scope.subscriptions")
	}
	var out []string
	for _, s := range from {
		ls := strings.ToLower(strings.TrimSpace(s))
		switch {
		case !subscriptionGUID.MatchString(ls):
			return nil, fmt.Errorf("subscription %q: not a subscription ID (a GUID)", s)
		case !p.InScope(ls):
			return nil, fmt.Errorf("subscription %s is outside the policy's scope.subscriptions: the guard may not look at it", ls)
		case !slices.Contains(out, ls):
			out = append(out, ls)
		}
	}
	return out, nil
}

// printScanSummary tells on stderr what the scan did.
func printScanSummary(w io.Writer, rep scan.Report, fs []guard.Finding, budget *resourcemanager.ReadBudget) {
	fmt.Fprintf(w, "scan: %d subscription(s), %d resource(s) judged; %s\n", len(rep.Subscriptions), rep.Rows, countStatuses(fs))
	fmt.Fprintf(w, "  Resource Graph: %d request(s), %d throttled (429)\n", rep.Graph.Requests, rep.Graph.Throttled)
	fmt.Fprintf(w, "  ARM: %d read(s), %d throttled (429): %d confirming a resolution a row suggested, %d of %d known resource(s) no longer listed, %d of %d resource(s) of types not in Resource Graph, %d of %d subscription(s)' diagnostic settings\n",
		budget.Reads(), budget.Throttled(), max(rep.ConfirmReads, 0), max(rep.MissingReads, 0), rep.Missing,
		max(rep.NotInGraphReads, 0), rep.NotInGraph, max(rep.SettingsReads, 0), rep.Settings)
	if len(rep.Graph.Unseen) > 0 {
		fmt.Fprintf(w, "  not shown by Resource Graph (no read access?), not judged, nothing closed: %s\n", strings.Join(rep.Graph.Unseen, ", "))
	}
	if rep.Incomplete != "" {
		fmt.Fprintf(w, "  nothing taken as gone: %s\n", rep.Incomplete)
	}
}
