package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/report"
)

func (a *App) newReportCommand() *cobra.Command {
	var storeURL, since, policyPath, out, format, at string
	var rows int
	cmd := &cobra.Command{
		Use:   "report [--store URL] [--since T] [--policy FILE] [--format html|md] [--rows N] [-o FILE]",
		Short: "Write the compliance posture as one self-contained HTML page (or Markdown)",
		Long: `report reads the store (findings, the audit trail, JIT grants, resources) and writes the
posture: open findings by severity, rule, subscription, region and age; a timeline of findings
opened and resolved, and the open backlog over time; time to detect and time to remediate
(p50, p90, p99); the findings by rule, then subscription (by the display name a scan read from
Resource Graph, with its ID; by its ID when no scan has named it), each with who changed the resource
and what is being done about it; JIT grants and overstays; the policy's exemptions and when
they expire; and where data lives against where the policy allows it.

The HTML page is one file that needs no network to view: CSS and SVG charts are inline, it
runs no script, and its Content-Security-Policy forbids loading anything; the only links are
portal links to the resources. Every chart has a text alternative or is a table, and no chart
needs colour to be read. --format md writes the same facts as Markdown, for a ticket.

Each group of findings (one rule in one subscription) lists its first --rows findings in full
(25 by default, and at most 40 times as many on the whole page) and the rest by name, per
resource group, so that a baseline of 10,000 findings stays a page of a few hundred kilobytes;
--rows 0 lists every finding in full.

--since limits the timeline, the times and the resolved findings listed to what happened at
or after T (RFC 3339, or a duration before now such as 24h, 7d or P30D); open and exempt
findings are always listed. The policy (for the allowed regions and the exemptions) is
--policy, else $EXPORTGUARD_POLICY, else the built-in default: give the one the pipeline runs.`,
		Example: "  exportguard report --store sqlite:exportguard.db -o report.html\n  exportguard report --since 7d --format md -o posture.md",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "html" && format != "md" {
				return fmt.Errorf("--format %q: want html or md", format)
			}
			now := a.now()
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return fmt.Errorf("--now %q: want RFC 3339, e.g. 2026-11-02T12:00:00Z", at)
				}
				now = t
			}
			var sinceT time.Time
			if since != "" {
				t, err := reportSince(since, now)
				if err != nil {
					return err
				}
				sinceT = t
			}
			if policyPath == "" {
				policyPath = a.getenv(envPolicy)
			}
			pol, err := loadPolicy(policyPath)
			if err != nil {
				return err
			}
			if storeURL == "" {
				storeURL = a.envOr(envStore, defaultStore)
			}
			ctx := cmd.Context()
			st, err := a.openExistingStore(ctx, "report", storeURL)
			if err != nil {
				return fmt.Errorf("report: %w", err)
			}
			defer st.Close()
			if rows < 0 {
				return fmt.Errorf("--rows %d: want 0 (every finding in full) or more", rows)
			}
			perGroup := rows
			switch {
			case !cmd.Flags().Changed("rows"):
				perGroup = 0 // the default
			case rows == 0:
				perGroup = -1 // every finding
			}
			p, err := report.Build(ctx, st, pol, report.Options{Now: now, Since: sinceT, RowsPerGroup: perGroup})
			if err != nil {
				return err
			}
			w, commit, abort, err := exportWriter(cmd.OutOrStdout(), out)
			if err != nil {
				return fmt.Errorf("report: %w", err)
			}
			defer abort()
			if format == "md" {
				err = p.Markdown(w)
			} else {
				err = p.HTML(w)
			}
			if err != nil {
				return fmt.Errorf("report: %w", err)
			}
			if err := commit(); err != nil {
				return fmt.Errorf("report: %w", err)
			}
			if out != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "report written to %s: %d open, %d exempt, %d resolved finding(s)\n",
					out, p.Totals.Open, p.Totals.Exempt, p.Totals.Resolved)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&storeURL, "store", "", storeFlagHelp)
	cmd.Flags().StringVar(&since, "since", "", "only what happened at or after T: RFC 3339, or a duration before now (24h, 7d, P30D)")
	cmd.Flags().StringVar(&policyPath, "policy", "", "policy file (YAML); default $EXPORTGUARD_POLICY, else the built-in policy")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to FILE (whole or not at all) instead of stdout")
	cmd.Flags().StringVar(&format, "format", "html", "html (one self-contained page) or md (Markdown)")
	cmd.Flags().IntVar(&rows, "rows", report.DefaultRowsPerGroup, "findings listed in full per group (rule and subscription); the rest by name; 0: every finding in full")
	cmd.Flags().StringVar(&at, "now", "", "the report's clock, RFC 3339 (exemption expiry, grant windows); default the current time")
	return cmd
}

// reportSince reads report's --since: what record's --since reads (RFC 3339,
// or a Go or ISO 8601 duration before now), and also days ("7d").
func reportSince(s string, now time.Time) (time.Time, error) {
	if n, ok := strings.CutSuffix(strings.TrimSpace(s), "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days > 0 {
			return now.Add(-time.Duration(days) * 24 * time.Hour).UTC(), nil
		}
	}
	t, err := parseSince(s, now)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w, or days (7d)", err)
	}
	return t, nil
}
