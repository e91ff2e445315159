package cli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
)

// goldenSessions are replayed together for the table and csv goldens: storage
// accounts, subscriptions (no resource group) and role assignments.
var goldenSessions = []string{
	"testdata/sessions/storage-replication.ndjson",
	"testdata/sessions/activity-log-settings.ndjson",
	"testdata/sessions/pim-overstay.ndjson",
}

// replay's table and csv, as a person and a spreadsheet read them: the table
// names the resource and its group (whole cells in a pipe, cut to $COLUMNS
// when set), the csv has a header row and the full resource ID.
func TestReplayTableAndCSVMatchGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		golden, format, columns string
	}{
		{"replay-format.table.txt", "table", ""},
		{"replay-format.table-100.txt", "table", "100"},
		{"replay-format.csv", "csv", ""},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			t.Parallel()
			app := envApp(map[string]string{"COLUMNS": tc.columns})
			out, _, err := runApp(t, app, append([]string{"replay", "--format", tc.format}, goldenSessions...)...)
			if err != nil {
				t.Fatal(err)
			}
			checkTextGolden(t, tc.golden, out)
		})
	}
}

// checkTextGolden compares got with testdata/golden/name (-update writes it).
func checkTextGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata/golden", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

func TestResourceNameAndGroup(t *testing.T) {
	t.Parallel()
	const sub = "/subscriptions/7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70"
	for _, tc := range []struct{ id, name, group string }{
		{sub + "/resourceGroups/rg-dr/providers/Microsoft.Storage/storageAccounts/eudrbackup", "eudrbackup", "rg-dr"},
		{sub + "/resourceGroups/RG-SQL/providers/Microsoft.Sql/servers/sql-va/databases/bom", "sql-va/bom", "RG-SQL"},
		{sub + "/resourcegroups/rg/providers/Microsoft.Storage/storageAccounts/sa/providers/Microsoft.Insights/diagnosticSettings/ds", "ds", "rg"},
		{sub + "/providers/Microsoft.Authorization/roleAssignments/e4b1d6a2", "e4b1d6a2", ""},
		{sub + "/resourceGroups/rg-only", "rg-only", "rg-only"},
		{sub, "7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70", ""},
		{sub + "/resourceGroups/rg/providers/Microsoft.Storage/", "Microsoft.Storage", "rg"},
		{"", "", ""},
		{"///", "", ""},
	} {
		if name, group := resourceName(tc.id), resourceGroup(tc.id); name != tc.name || group != tc.group {
			t.Errorf("%q: name %q group %q, want %q %q", tc.id, name, group, tc.name, tc.group)
		}
	}
}

// A table fits the width it is given, whatever the cells hold: long cells
// are cut with an ellipsis, control characters (a terminal escape in a
// message) never reach the terminal; csv keeps every cell whole.
func TestTableFitsAndCSVKeepsWhole(t *testing.T) {
	t.Parallel()
	long := "/subscriptions/0a000000-0000-4000-8000-00000000000a/resourceGroups/" + strings.Repeat("g", 90) +
		"/providers/Microsoft.Storage/storageAccounts/" + strings.Repeat("n", 24)
	fs := []guard.Finding{
		{ID: "1", Status: guard.StatusOpen, Severity: "high", Rule: "residency.replication", ResourceID: long,
			Message: "red \x1b[31malert\x1b[0m\nnext line " + strings.Repeat("word ", 60)},
		{ID: "2", Status: guard.StatusResolved, Severity: "medium", Rule: "transit.tls", ResourceID: "/subscriptions/0a000000-0000-4000-8000-00000000000a", Message: "ok"},
	}
	for _, width := range []int{0, 200, 120, 80, 40, 12, 3} {
		var b bytes.Buffer
		if err := printFindings(&b, formatTable, width, fs); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(lines) != 3 {
			t.Fatalf("width %d: %d lines, want a header and 2 rows:\n%s", width, len(lines), b.String())
		}
		for _, l := range lines {
			if width > 0 && utf8.RuneCountInString(l) > width {
				t.Errorf("width %d: a line of %d: %q", width, utf8.RuneCountInString(l), l)
			}
			if strings.ContainsAny(l, "\x1b\r") {
				t.Errorf("width %d: a control character reached the table: %q", width, l)
			}
		}
		if strings.Contains(b.String(), "/subscriptions/") {
			t.Errorf("width %d: the table shows a whole resource ID:\n%s", width, b.String())
		}
	}
	var b bytes.Buffer
	if err := printFindings(&b, formatCSV, 80, fs); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	if len(rows) != 3 || rows[1][col["resourceId"]] != long || rows[1][col["message"]] != fs[0].Message ||
		rows[1][col["resourceGroup"]] != strings.Repeat("g", 90) || rows[2][col["resourceGroup"]] != "" {
		t.Errorf("csv does not keep the cells whole: %q", rows)
	}
}

// doctor's table wraps its advice under itself to fit, and loses no word.
func TestDoctorWrapsToTheWidth(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	d := &doctor{out: &b, width: 60}
	msg := "nothing processed for 3d4h; the last was 2026-11-17T10:20:48Z. Check the Activity Log diagnostic setting, Event Hubs and the activitylog function"
	d.say(docWarn, "last event", "%s", msg)
	var words []string
	for i, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if utf8.RuneCountInString(l) > 60 {
			t.Errorf("a line of %d: %q", utf8.RuneCountInString(l), l)
		}
		if i > 0 && !strings.HasPrefix(l, strings.Repeat(" ", 18)) {
			t.Errorf("a continuation line not under the message: %q", l)
		}
		words = append(words, strings.Fields(l)...)
	}
	if got := strings.Join(words, " "); got != "WARN last event "+msg {
		t.Errorf("wrapped doctor line lost words: %q", got)
	}
}

// audit verify --format json prints its result whether the trail verifies or
// not, so that a program reads why on stdout; the exit is 1 all the same.
func TestAuditVerifyJSONSaysWhyItFails(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "trail.jsonl")
	line := `{"seq":1,"at":"2026-11-02T10:31:47Z","kind":"change","subject":"x","prevHash":"","hash":"` + strings.Repeat("0", 64) + "\"}\n"
	if err := os.WriteFile(file, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, _, err := run(t, "audit", "verify", "--file", file, "--format", "json")
	if exitCode(err) != ExitFailed {
		t.Fatalf("exit %d (%v), want 1", exitCode(err), err)
	}
	var res trailResult
	if jerr := json.Unmarshal([]byte(stdout), &res); jerr != nil || res.Verified || res.Trail != file || res.Error != err.Error() {
		t.Errorf("stdout %q (%v), want the failure as JSON: %v", stdout, jerr, err)
	}
}
