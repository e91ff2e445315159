package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/guard"
)

// The policy change in testdata/whatif (new.yaml against old.yaml) on the
// storage-replication session: allowed regions East US and East US 2 instead of
// the United States, encryption.cmk off, residency.location critical, and an
// exemption for rg-dr's replication. Its effect, exactly: itardrawings'
// geo-replica in West US becomes a finding; the three CMK findings go; both
// location findings become critical; eudrbackup's replication becomes exempt;
// and every residency message (and location remediation) names the new allowed
// set.
func TestWhatIfListsExactlyTheExpectedDifferences(t *testing.T) {
	t.Parallel()
	out, stderr, err := whatIf(t, "json", "testdata/whatif/new.yaml", "testdata/whatif/old.yaml", "testdata/sessions/storage-replication.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	type diff struct {
		Change, Rule, Resource string
		Fields                 []string // field: old → new for status and severity; the field's name for the rest
	}
	var got []diff
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var d findingDiff
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if d.ID != guard.FindingID(d.Rule, d.ResourceID, "") {
			t.Errorf("%s %s: id %s is not the finding's", d.Rule, d.ResourceID, d.ID)
		}
		g := diff{Change: d.Change, Rule: d.Rule, Resource: lastSegmentOf(d.ResourceID)}
		for _, f := range d.Fields {
			switch f.Field {
			case "status", "severity":
				g.Fields = append(g.Fields, f.Field+": "+f.Old+" → "+f.New)
			case "message", "remediation.action":
				g.Fields = append(g.Fields, f.Field)
				if !strings.Contains(f.Old, "geographies United States") || !strings.Contains(f.New, "regions eastus, eastus2") {
					t.Errorf("%s %s: %s %q → %q does not move from the old allowed set to the new", d.Rule, g.Resource, f.Field, f.Old, f.New)
				}
			default:
				g.Fields = append(g.Fields, f.Field+": "+f.Old+" → "+f.New)
			}
		}
		switch d.Change {
		case "added":
			if d.New == nil || d.Old != nil || d.New.Status != guard.StatusOpen {
				t.Errorf("added %s %s: new %+v, old %+v", d.Rule, g.Resource, d.New, d.Old)
			}
		case "dropped":
			if d.Old == nil || d.New != nil {
				t.Errorf("dropped %s %s: new %+v, old %+v", d.Rule, g.Resource, d.New, d.Old)
			}
		}
		got = append(got, g)
	}
	want := []diff{
		{"dropped", "encryption.cmk", "eudrbackup", nil},
		{"changed", "residency.location", "eudrbackup", []string{"severity: high → critical", "message", "remediation.action"}},
		{"changed", "residency.replication", "eudrbackup", []string{"status: open → exempt", "message"}},
		{"dropped", "encryption.cmk", "itardrawings", nil},
		{"added", "residency.replication", "itardrawings", nil},
		{"dropped", "encryption.cmk", "partnerxfer", nil},
		{"changed", "residency.location", "partnerxfer", []string{"severity: high → critical", "message", "remediation.action"}},
		{"changed", "residency.replication", "partnerxfer", []string{"message"}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("what-if differences (-want +got):\n%s", d)
	}
	if !strings.Contains(stderr, "1 added, 3 dropped, 4 changed, 0 the same (7 finding(s) before, 5 after)") {
		t.Errorf("summary: %s", stderr)
	}

	// The table says the same.
	table, _, err := whatIf(t, "table", "testdata/whatif/new.yaml", "testdata/whatif/old.yaml", "testdata/sessions/storage-replication.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 1+len(want) || !strings.HasPrefix(lines[0], "CHANGE") {
		t.Fatalf("table:\n%s", table)
	}
	for i, w := range want {
		if f := strings.Fields(lines[i+1]); f[0] != w.Change || f[1] != w.Rule || lastSegmentOf(f[2]) != w.Resource {
			t.Errorf("table line %d %q, want %s %s %s", i+1, lines[i+1], w.Change, w.Rule, w.Resource)
		}
	}
	for _, s := range []string{
		`open high: Storage account itardrawings replicates (Standard_GRS) to westus, outside the allowed regions eastus, eastus2.`,
		`status "open" → "exempt"`, `severity "high" → "critical"`,
	} {
		if !strings.Contains(table, s) {
			t.Errorf("table lacks %s", s)
		}
	}
}

func lastSegmentOf(id string) string { return id[strings.LastIndexByte(id, '/')+1:] }

// The same policy on both sides changes nothing; the built-in policy against
// the old one spelled out changes nothing either.
func TestWhatIfSamePolicyChangesNothing(t *testing.T) {
	t.Parallel()
	for _, newPolicy := range []string{"testdata/whatif/old.yaml", ""} {
		out, stderr, err := whatIf(t, "json", newPolicy, "testdata/whatif/old.yaml",
			"testdata/sessions/storage-replication.ndjson", "testdata/sessions/jit-overstay.ndjson")
		if err != nil {
			t.Fatal(err)
		}
		if out != "" || !strings.Contains(stderr, "over 2 session(s): 0 added, 0 dropped, 0 changed, 8 the same") {
			t.Errorf("policy %q: out %q, stderr %q", newPolicy, out, stderr)
		}
	}
}

func TestWhatIfRefusesBadArguments(t *testing.T) {
	t.Parallel()
	s := "testdata/sessions/storage-replication.ndjson"
	for _, args := range [][]string{
		{"table", "", "testdata/whatif/no-such.yaml", s},
		{"table", "testdata/whatif/no-such.yaml", "testdata/whatif/old.yaml", s},
		{"xml", "", "testdata/whatif/old.yaml", s},
		{"table", "", "testdata/whatif/old.yaml", "testdata/sessions/no-such-session.ndjson"},
	} {
		if _, _, err := whatIf(t, args[0], args[1], args[2], args[3:]...); err == nil {
			t.Errorf("what-if %q: want an error", args)
		}
	}
}

// whatIf runs the what-if (replay --policy NEW --compare OLD) in-process.
func whatIf(t *testing.T, format, newPolicy, oldPolicy string, sessions ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := &cobra.Command{}
	cmd.Flags().String("log-level", "warn", "")
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetContext(context.Background())
	var f outputFormat // --format refuses what is not a format
	if err := f.Set(format); err != nil {
		return "", "", err
	}
	err = testApp().replayWhatIf(cmd, newPolicy, oldPolicy, f, sessions)
	return out.String(), errb.String(), err
}

func TestCompareFindings(t *testing.T) {
	t.Parallel()
	f := func(id, res, rule string, status guard.Status, sev string) guard.Finding {
		return guard.Finding{ID: id, ResourceID: res, Rule: rule, Status: status, Severity: sev, Message: "m",
			Remediation: guard.Remediation{Action: "a", Mode: "off", Status: "none"}}
	}
	old := []guard.Finding{
		f("1", "/subscriptions/s/B", "r1", guard.StatusOpen, "high"),
		f("2", "/subscriptions/s/a", "r2", guard.StatusOpen, "high"),
		f("3", "/subscriptions/s/c", "r1", guard.StatusResolved, "low"),
	}
	changed := f("2", "/subscriptions/s/A", "r2", guard.StatusOpen, "high")
	changed.Remediation.Mode, changed.Remediation.Status = "approve", "awaiting-approval"
	changed.Evidence = map[string]any{"ignored": true} // evidence follows from the rest
	nu := []guard.Finding{changed, f("3", "/subscriptions/s/c", "r1", guard.StatusResolved, "low"), f("4", "/subscriptions/s/b", "r0", guard.StatusOpen, "medium")}
	var got []string
	for _, d := range compareFindings(old, nu) {
		s := d.Change + " " + d.ID
		for _, fc := range d.Fields {
			s += " " + fc.Field + "=" + fc.Old + ">" + fc.New
		}
		got = append(got, s)
	}
	want := []string{
		"changed 2 remediation.mode=off>approve remediation.status=none>awaiting-approval",
		"added 4",   // /subscriptions/s/b r0 sorts before …/B r1 (case-insensitive, then rule)
		"dropped 1", // …/B r1
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("compareFindings (-want +got):\n%s", d)
	}
}
