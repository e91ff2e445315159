package cli

// policy test: a policy's rules run over recorded sessions, reported rule by
// rule, for someone writing a rule. A rule that found nothing is listed too,
// with zeros, so its author sees that it ran and matched nothing (rather than
// not running at all). The replay is replay's own (replayUnder): the same
// pipeline, a fresh in-memory store, the session's ARM.

import (
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/guard"
)

// ruleResult is what one rule found over the sessions: a line of policy test
// --format json.
type ruleResult struct {
	Rule     string          `json:"rule"`
	Mode     string          `json:"mode"`     // the policy's rules.<rule>.mode
	Severity string          `json:"severity"` // the policy's rules.<rule>.severity
	Open     int             `json:"open"`
	Resolved int             `json:"resolved"`
	Exempt   int             `json:"exempt"`
	Findings []guard.Finding `json:"findings"` // as replay --format json prints them; [] when none
}

func (a *App) newPolicyTestCommand() *cobra.Command {
	var format outputFormat
	var logLevel string
	cmd := &cobra.Command{
		Use:   "test FILE SESSION... [--format table|json|csv]",
		Short: "Run a policy's rules over recorded sessions and print what each rule found",
		Long: `test replays the sessions under the policy FILE, as replay does (the same pipeline, a
fresh in-memory store, resource reads answered from the sessions' arm lines), and prints
rule by rule, built-in and custom: its mode and severity, how many findings it left open,
resolved and exempt, then the findings. A rule that found nothing is listed with zeros, so
a rule's author sees that it ran. A rule whose expression fails on a resource logs a
warning on stderr (the rule and the resource) and finds nothing there.

--format table prints the rules, then the findings (rule, status, resource name, group,
message); json prints one object per rule per line, its findings in it as replay --format
json gives them; csv prints one row per finding, the rule's columns repeated, and one row
with empty finding columns for a rule that found nothing.`,
		Example: "  exportguard policy test testdata/sessions/gov-storage-replication.policy.yaml testdata/sessions/gov-storage-replication.ndjson\n" +
			"  exportguard policy test --format json policy.yaml today.ndjson",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			pol, err := loadPolicy(args[0])
			if err != nil {
				return err
			}
			var read int64
			prog := a.newProgress(cmd.ErrOrStderr(), sessionBytes(args[1:]), func() string { return "policy test: replaying" })
			defer prog.stop()
			fs, rules, err := a.replayUnder(cmd, pol, logLevel, prog.writer(cmd.ErrOrStderr()), args[1:], prog, &read)
			if err != nil {
				return err
			}
			prog.stop()
			results := resultsByRule(pol, rules, fs)
			out := cmd.OutOrStdout()
			switch format {
			case formatJSON:
				return writeJSONLines(out, results)
			case formatCSV:
				return writeListing(out, format, 0, ruleFindingRows(results), ruleFindingColumns, false)
			}
			if err := printRuleResults(out, a.tableWidth(out), results); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d rule(s) over %d session(s); %s\n", len(results), len(args)-1, countStatuses(fs))
			return nil
		},
	}
	addFormatFlag(cmd, &format, "rule")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "log level on stderr: debug, info, warn, error")
	return cmd
}

// resultsByRule groups the findings by rule: every rule the pipeline ran, in
// its order (several rule values may share an ID: one entry), then any rule
// a finding names that the pipeline did not list, by ID.
func resultsByRule(pol *guard.Policy, rules []guard.Rule, fs []guard.Finding) []ruleResult {
	var out []ruleResult
	at := map[string]int{}
	add := func(id string) int {
		if i, ok := at[id]; ok {
			return i
		}
		at[id] = len(out)
		out = append(out, ruleResult{Rule: id, Mode: pol.RuleMode(id), Severity: pol.Severity(id), Findings: []guard.Finding{}})
		return at[id]
	}
	for _, r := range rules {
		add(r.ID())
	}
	sortFindings(fs)
	var others []string
	for _, f := range fs {
		if _, ok := at[f.Rule]; !ok {
			others = append(others, f.Rule)
		}
	}
	sort.Strings(others)
	for _, id := range others {
		add(id)
	}
	for _, f := range fs {
		r := &out[at[f.Rule]]
		r.Findings = append(r.Findings, f)
		switch f.Status {
		case guard.StatusOpen:
			r.Open++
		case guard.StatusResolved:
			r.Resolved++
		case guard.StatusExempt:
			r.Exempt++
		}
	}
	return out
}

var ruleCountColumns = []column[ruleResult]{
	{table: "RULE", cell: func(r ruleResult) string { return r.Rule }},
	{table: "MODE", cell: func(r ruleResult) string { return r.Mode }},
	{table: "SEVERITY", cell: func(r ruleResult) string { return r.Severity }},
	{table: "OPEN", cell: func(r ruleResult) string { return strconv.Itoa(r.Open) }},
	{table: "RESOLVED", cell: func(r ruleResult) string { return strconv.Itoa(r.Resolved) }},
	{table: "EXEMPT", cell: func(r ruleResult) string { return strconv.Itoa(r.Exempt) }},
}

// ruleFindingRow is one finding of a rule, or (f nil) a rule that found
// nothing: a row of the findings table and of csv.
type ruleFindingRow struct {
	r *ruleResult
	f *guard.Finding
}

func ruleFindingRows(results []ruleResult) []ruleFindingRow {
	var rows []ruleFindingRow
	for i := range results {
		r := &results[i]
		if len(r.Findings) == 0 {
			rows = append(rows, ruleFindingRow{r: r})
		}
		for j := range r.Findings {
			rows = append(rows, ruleFindingRow{r: r, f: &r.Findings[j]})
		}
	}
	return rows
}

// findingCell is a column cell of the row's finding, "" for a rule that
// found nothing.
func findingCell(cell func(guard.Finding) string) func(ruleFindingRow) string {
	return func(row ruleFindingRow) string {
		if row.f == nil {
			return ""
		}
		return cell(*row.f)
	}
}

var ruleFindingColumns = []column[ruleFindingRow]{
	{table: "RULE", csv: "rule", cell: func(row ruleFindingRow) string { return row.r.Rule }},
	{csv: "mode", cell: func(row ruleFindingRow) string { return row.r.Mode }},
	{csv: "open", cell: func(row ruleFindingRow) string { return strconv.Itoa(row.r.Open) }},
	{csv: "resolved", cell: func(row ruleFindingRow) string { return strconv.Itoa(row.r.Resolved) }},
	{csv: "exempt", cell: func(row ruleFindingRow) string { return strconv.Itoa(row.r.Exempt) }},
	{csv: "id", cell: findingCell(func(f guard.Finding) string { return f.ID })},
	{table: "STATUS", csv: "status", cell: findingCell(func(f guard.Finding) string { return string(f.Status) })},
	{csv: "severity", cell: findingCell(func(f guard.Finding) string { return f.Severity })},
	{table: "RESOURCE", csv: "resourceName", cell: findingCell(func(f guard.Finding) string { return resourceName(f.ResourceID) })},
	{table: "GROUP", cell: findingCell(func(f guard.Finding) string { return orDash(resourceGroup(f.ResourceID)) })},
	{csv: "resourceGroup", cell: findingCell(func(f guard.Finding) string { return resourceGroup(f.ResourceID) })},
	{csv: "resourceId", cell: findingCell(func(f guard.Finding) string { return f.ResourceID })},
	{table: "MESSAGE", csv: "message", cell: findingCell(func(f guard.Finding) string { return f.Message })},
}

// printRuleResults writes the rules' counts, then their findings (or a line
// saying there are none), each table fitted to width.
func printRuleResults(w io.Writer, width int, results []ruleResult) error {
	if err := writeListing(w, formatTable, width, results, ruleCountColumns, false); err != nil {
		return err
	}
	var rows []ruleFindingRow
	for _, row := range ruleFindingRows(results) {
		if row.f != nil {
			rows = append(rows, row)
		}
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "\nNo rule found anything.")
		return err
	}
	if _, err := fmt.Fprintln(w); err != nil {
		return err
	}
	return writeListing(w, formatTable, width, rows, ruleFindingColumns, false)
}
