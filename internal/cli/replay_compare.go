package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/replay"
)

// compareFlagHelp is replay's --compare flag.
const compareFlagHelp = "what-if: replay the sessions under OLD.yaml and under --policy (the new policy; the built-in default when empty), " +
	"each into a fresh in-memory store, and print the findings the new policy adds, drops or changes (status, severity, message, remediation) " +
	"instead of the findings"

// findingDiff is one difference between the findings of two policies.
type findingDiff struct {
	Change     string         `json:"change"` // added, dropped or changed
	ID         string         `json:"id"`
	Rule       string         `json:"rule"`
	ResourceID string         `json:"resourceId"`
	Fields     []fieldChange  `json:"fields,omitempty"` // changed: what changed
	Old        *guard.Finding `json:"old,omitempty"`    // dropped: the finding the old policy gave
	New        *guard.Finding `json:"new,omitempty"`    // added: the finding the new policy gives
}

// fieldChange is one field of a finding that differs between the policies.
type fieldChange struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// replayWhatIf runs replay --policy NEW --compare OLD SESSION...: the sessions
// replayed in-process under each policy, each into its own fresh in-memory
// store, and the findings compared by ID.
func (a *App) replayWhatIf(cmd *cobra.Command, newPath, oldPath string, format outputFormat, sessions []string) error {
	oldPol, err := loadPolicy(oldPath)
	if err != nil {
		return fmt.Errorf("--compare: %w", err)
	}
	newPol, err := loadPolicy(newPath)
	if err != nil {
		return err
	}
	level, _ := cmd.Flags().GetString("log-level")
	if level == "" {
		level = "warn"
	}
	// Both replays read the sessions: the progress runs over twice their size.
	var read int64
	prog := a.newProgress(cmd.ErrOrStderr(), 2*sessionBytes(sessions), func() string { return "what-if: replaying under both policies" })
	defer prog.stop()
	// Malformed lines are told once, by the first replay.
	oldFs, _, err := a.replayUnder(cmd, oldPol, level, prog.writer(cmd.ErrOrStderr()), sessions, prog, &read)
	if err != nil {
		return err
	}
	newFs, _, err := a.replayUnder(cmd, newPol, level, io.Discard, sessions, prog, &read)
	if err != nil {
		return err
	}
	prog.stop()
	diffs := compareFindings(oldFs, newFs)
	if err := writeListing(cmd.OutOrStdout(), format, a.tableWidth(cmd.OutOrStdout()), diffs, diffColumns, false); err != nil {
		return err
	}
	n := map[string]int{}
	for _, d := range diffs {
		n[d.Change]++
	}
	newName := newPath
	if newName == "" {
		newName = "the built-in policy"
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "what-if: %s against %s over %d session(s): %d added, %d dropped, %d changed, %d the same (%d finding(s) before, %d after)\n",
		newName, oldPath, len(sessions), n["added"], n["dropped"], n["changed"], len(oldFs)-n["dropped"]-n["changed"], len(oldFs), len(newFs))
	return nil
}

// replayUnder replays the sessions under a policy into a fresh in-memory store
// and returns every finding, as replay does, and the rules the pipeline ran
// (policy test lists them).
// prog, when not nil, is told the bytes read so far (read, shared by the
// replays of one verb).
func (a *App) replayUnder(cmd *cobra.Command, pol *guard.Policy, level string, errs io.Writer, sessions []string, prog *progress, read *int64) ([]guard.Finding, []guard.Rule, error) {
	log, err := newLogger(errs, level, a.textLogs(cmd))
	if err != nil {
		return nil, nil, err
	}
	sched, err := a.sweepSchedule()
	if err != nil {
		return nil, nil, err
	}
	reconcileSched, err := a.reconcileSchedule()
	if err != nil {
		return nil, nil, err
	}
	ctx := cmd.Context()
	st, err := a.openStore(ctx, "memory:")
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	pl, err := a.newPipeline(st, nil, pol, log)
	if err != nil {
		return nil, nil, err
	}
	replayLease(pl)
	r := &replay.Replayer{Pipeline: pl, Schedule: sched, Reconcile: reconcileSched, Errors: errs,
		Bind:     func(a *replay.ARM) { bindRemediation(pl, a) },
		Progress: func(string, int) { prog.tick(*read) }}
	for _, path := range sessions {
		if _, err := replayFile(cmd, r, path, read); err != nil {
			return nil, nil, err
		}
	}
	fs, err := st.ListFindings(ctx, guard.FindingFilter{})
	if err != nil {
		return nil, nil, fmt.Errorf("list findings: %w", err)
	}
	return fs, pl.Rules, nil
}

// compareFindings lists what the new findings add, drop and change against
// the old, by finding ID, sorted by resource ID (case-insensitively) then rule
// then ID.
func compareFindings(oldFs, newFs []guard.Finding) []findingDiff {
	olds := map[string]*guard.Finding{}
	for i := range oldFs {
		olds[oldFs[i].ID] = &oldFs[i]
	}
	news := map[string]*guard.Finding{}
	for i := range newFs {
		news[newFs[i].ID] = &newFs[i]
	}
	var out []findingDiff
	for id, o := range olds {
		n, ok := news[id]
		if !ok {
			out = append(out, findingDiff{Change: "dropped", ID: id, Rule: o.Rule, ResourceID: o.ResourceID, Old: o})
			continue
		}
		if fields := changedFields(o, n); len(fields) > 0 {
			out = append(out, findingDiff{Change: "changed", ID: id, Rule: n.Rule, ResourceID: n.ResourceID, Fields: fields})
		}
	}
	for id, n := range news {
		if _, ok := olds[id]; !ok {
			out = append(out, findingDiff{Change: "added", ID: id, Rule: n.Rule, ResourceID: n.ResourceID, New: n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if x, y := guard.IDKey(a.ResourceID), guard.IDKey(b.ResourceID); x != y {
			return x < y
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.ID < b.ID
	})
	return out
}

// changedFields compares what a person acts on: status, severity, message and
// remediation. Times and evidence follow from these.
func changedFields(o, n *guard.Finding) []fieldChange {
	var out []fieldChange
	for _, f := range []fieldChange{
		{"status", string(o.Status), string(n.Status)},
		{"severity", o.Severity, n.Severity},
		{"message", o.Message, n.Message},
		{"remediation.action", o.Remediation.Action, n.Remediation.Action},
		{"remediation.mode", o.Remediation.Mode, n.Remediation.Mode},
		{"remediation.status", o.Remediation.Status, n.Remediation.Status},
	} {
		if f.Old != f.New {
			out = append(out, f)
		}
	}
	return out
}

// diffColumns are the columns of a what-if: the resource's name and group in a
// table, its full ID in csv.
var diffColumns = []column[findingDiff]{
	{table: "CHANGE", csv: "change", cell: func(d findingDiff) string { return d.Change }},
	{csv: "id", cell: func(d findingDiff) string { return d.ID }},
	{table: "RULE", csv: "rule", cell: func(d findingDiff) string { return d.Rule }},
	{table: "RESOURCE", csv: "resourceName", cell: func(d findingDiff) string { return resourceName(d.ResourceID) }},
	{table: "GROUP", cell: func(d findingDiff) string { return orDash(resourceGroup(d.ResourceID)) }},
	{csv: "resourceGroup", cell: func(d findingDiff) string { return resourceGroup(d.ResourceID) }},
	{csv: "resourceId", cell: func(d findingDiff) string { return d.ResourceID }},
	{table: "WHAT", csv: "what", cell: diffWhat},
}

// diffWhat says what a difference is, in words.
func diffWhat(d findingDiff) string {
	switch d.Change {
	case "added":
		return fmt.Sprintf("%s %s: %s", d.New.Status, d.New.Severity, d.New.Message)
	case "dropped":
		return fmt.Sprintf("was %s %s: %s", d.Old.Status, d.Old.Severity, d.Old.Message)
	}
	var parts []string
	for _, f := range d.Fields {
		parts = append(parts, fmt.Sprintf("%s %q → %q", f.Field, f.Old, f.New))
	}
	return strings.Join(parts, "; ")
}
