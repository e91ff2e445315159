package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/notify/notifytest"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestMain runs the tests from the module root, where testdata/, functions/
// and host.json are, as the binary runs: the paths in the tests are the ones a
// user types. (A child process the tests start is already there.)
func TestMain(m *testing.M) {
	for range 3 {
		if _, err := os.Stat("go.mod"); err == nil {
			break
		}
		if err := os.Chdir(".."); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}

// testApp is the App the tests run: the process's environment and clock, the
// functions/ folder of the repository, and notification senders that post to
// loopback servers and do not wait on the wall clock. A test sets what it
// replaces on a value of its own.
func testApp() *App {
	return &App{Functions: os.DirFS("."), Notify: notifytest.NoWait()}
}

// envApp is testApp with the settings env (and nothing of the process's).
func envApp(env map[string]string) *App {
	app := testApp()
	app.Getenv = func(name string) string { return env[name] }
	return app
}

// run runs the exportguard command line in-process.
func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runApp(t, testApp(), args...)
}

// runApp runs the command line in-process as app (its Stdout and Stderr are
// replaced).
func runApp(t *testing.T, app *App, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	app.Stdout, app.Stderr = &out, &errb
	err = app.Run(context.Background(), args)
	return out.String(), errb.String(), err
}

// sessionCase is one recorded session in testdata/sessions: NAME.ndjson, what it
// covers (NAME.covers, one line), an optional policy (NAME.policy.yaml), and its
// expected findings (testdata/golden/NAME.json).
type sessionCase struct{ name, path, policy, golden, covers string }

func sessions(t *testing.T) []sessionCase {
	t.Helper()
	paths, err := filepath.Glob("testdata/sessions/*.ndjson")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no sessions in testdata/sessions (%v)", err)
	}
	var out []sessionCase
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".ndjson")
		covers, err := os.ReadFile(strings.TrimSuffix(p, ".ndjson") + ".covers")
		if err != nil {
			t.Errorf("session %s says nothing of what it covers: %v", name, err)
		}
		s := sessionCase{name: name, path: p, golden: filepath.Join("testdata/golden", name+".json"), covers: strings.TrimSpace(string(covers))}
		if pol := strings.TrimSuffix(p, ".ndjson") + ".policy.yaml"; fileExists(pol) {
			s.policy = pol
		}
		out = append(out, s)
	}
	return out
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestReplayJSONMatchesGolden(t *testing.T) {
	t.Parallel()
	for _, s := range sessions(t) {
		t.Run(s.name, func(t *testing.T) {
			t.Logf("covers: %s", s.covers)
			args := []string{"replay", "--format", "json"}
			if s.policy != "" {
				args = append(args, "--policy", s.policy)
			}
			args = append(args, s.path)
			first, _, err := run(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			second, _, err := run(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			if first != second {
				t.Errorf("two replays of the same session differ:\n%s", cmp.Diff(first, second))
			}
			checkFindingLines(t, first)
			if *update {
				if err := os.WriteFile(s.golden, []byte(first), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(s.golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if diff := cmp.Diff(string(want), first); diff != "" {
				t.Errorf("session %s (%s): findings differ from %s (-want +got):\n%s", s.name, s.covers, s.golden, diff)
			}
		})
	}
}

// checkFindingLines checks that stdout is nothing but finding JSON lines as
// DESIGN 3.4 gives them, sorted by resourceId then rule.
func checkFindingLines(t *testing.T, out string) {
	t.Helper()
	required := []string{"id", "rule", "severity", "status", "subscriptionId", "resourceId", "message",
		"evidence", "firstSeen", "lastSeen", "trigger", "remediation"}
	if out == "" {
		return // a session with nothing to report
	}
	var prev guard.Finding
	ids := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stdout line %d is not JSON: %q", i+1, line)
		}
		for _, k := range required {
			if _, ok := m[k]; !ok {
				t.Errorf("finding line %d lacks %q", i+1, k)
			}
		}
		var f guard.Finding
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains([]guard.Status{guard.StatusOpen, guard.StatusResolved, guard.StatusExempt}, f.Status) {
			t.Errorf("line %d: status %q", i+1, f.Status)
		}
		if (f.Status == guard.StatusResolved) != (f.ResolvedAt != nil) {
			t.Errorf("line %d: status %s with resolvedAt %v", i+1, f.Status, f.ResolvedAt)
		}
		if len(f.ID) != 32 || strings.Trim(f.ID, "0123456789abcdef") != "" || ids[f.ID] {
			t.Errorf("line %d: id %q is not a stable hash unique to its finding", i+1, f.ID)
		}
		ids[f.ID] = true
		if i > 0 && (guard.IDKey(prev.ResourceID) > guard.IDKey(f.ResourceID) ||
			guard.IDKey(prev.ResourceID) == guard.IDKey(f.ResourceID) && prev.Rule > f.Rule) {
			t.Errorf("line %d is out of order (resourceId, then rule)", i+1)
		}
		prev = f
	}
}

func TestReplaySampleHasOpenReplicationFinding(t *testing.T) {
	t.Parallel()
	out, _, err := run(t, "replay", "testdata/sessions/storage-replication.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "open") || !strings.Contains(out, "residency.replication") || !strings.Contains(out, "eudrbackup") {
		t.Errorf("make run's table shows no open residency.replication finding:\n%s", out)
	}
}

func TestReplayReportsMalformedLinesAndGoesOn(t *testing.T) {
	t.Parallel()
	out, errOut, err := run(t, "replay", "--format", "json", "testdata/sessions/malformed-lines.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"malformed-lines.ndjson:2: not a JSON object",
		"malformed-lines.ndjson:3: source \"kafka\"",
		"malformed-lines.ndjson:4: 2 item(s) could not be read",
		"malformed-lines.ndjson:5: 1 item(s) could not be read",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if !strings.Contains(out, `"status":"open"`) {
		t.Errorf("the good record among bad ones must still open its finding; got:\n%s", out)
	}
}

// One operation reported by Event Grid, by the Activity Log, and redelivered,
// gives one finding and one transition to open (and one to resolved).
func TestReplayIsIdempotentAcrossSources(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "eg.db")
	if _, _, err := run(t, "replay", "--store", "sqlite:"+db, "testdata/sessions/storage-replication.ndjson"); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := trailEvents(st)
	if err != nil {
		t.Fatal(err)
	}
	partner := guard.FindingID(guard.RuleResidencyReplication,
		"/subscriptions/7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70/resourceGroups/rg-partner-xfer/providers/Microsoft.Storage/storageAccounts/partnerxfer", "")
	got := map[string]int{}
	for _, r := range recs {
		if r.Subject == partner {
			got[r.Kind]++
		}
	}
	if want := map[string]int{"finding.open": 1, "finding.resolved": 1}; !cmp.Equal(got, want) {
		t.Errorf("transitions of partnerxfer's finding = %v, want %v", got, want)
	}
}

func TestReplayRefusesBadArguments(t *testing.T) {
	t.Parallel()
	tests := [][]string{
		{"replay"},
		{"replay", "--format", "xml", "testdata/sessions/storage-replication.ndjson"},
		{"replay", "--store", "postgres://x", "testdata/sessions/storage-replication.ndjson"},
		{"replay", "--policy", "testdata/no-such-policy.yaml", "testdata/sessions/storage-replication.ndjson"},
		{"replay", "testdata/sessions/no-such-session.ndjson"},
	}
	for _, args := range tests {
		if _, _, err := run(t, args...); err == nil {
			t.Errorf("exportguard %s: want an error", strings.Join(args, " "))
		}
	}
}

func TestEveryVerbHasHelp(t *testing.T) {
	t.Parallel()
	for _, verb := range []string{"serve", "replay", "scan", "policy", "policy check", "policy show"} {
		out, _, err := run(t, append(strings.Fields(verb), "--help")...)
		if err != nil || !strings.Contains(out, "Usage:") {
			t.Errorf("exportguard %s --help: %v\n%s", verb, err, out)
		}
	}
}

func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	out, _, err := run(t, "policy", "check", "testdata/sessions/gov-storage-replication.policy.yaml")
	if err != nil || !strings.Contains(out, "valid") || !strings.Contains(out, "regions usgovvirginia") {
		t.Errorf("policy check of a valid file: %v\n%s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("cloud: AzureUSGovernment\nrules:\n  transit.tls: {mode: loud}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "policy", "check", bad); err == nil || !strings.Contains(err.Error(), "line 3: rules.transit.tls.mode") {
		t.Errorf("policy check of an invalid file: err = %v, want the key and line named", err)
	}
	shown, _, err := run(t, "policy", "show")
	if err != nil || !strings.Contains(shown, "United States") {
		t.Errorf("policy show: %v\n%s", err, shown)
	}
}

// Replaying a session again over the same store moves nothing: the replay clock
// goes back, and a state or a 404 older than what is known is not judged.
func TestReplayTwiceOverOneStoreMovesNothing(t *testing.T) {
	t.Parallel()
	for _, s := range sessions(t) {
		if strings.HasPrefix(s.name, "remediation-") {
			continue // remediation sessions write to ARM; their own tests replay them twice
		}
		t.Run(s.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "twice.db")
			args := []string{"replay", "--store", "sqlite:" + db}
			if s.policy != "" {
				args = append(args, "--policy", s.policy)
			}
			args = append(args, s.path)
			transitions := func() int {
				st, err := sqlite.Open(context.Background(), db)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				recs, err := trailEvents(st)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, r := range recs {
					if strings.HasPrefix(r.Kind, "finding.") {
						n++
					}
				}
				return n
			}
			if _, _, err := run(t, args...); err != nil {
				t.Fatal(err)
			}
			first := transitions()
			if _, _, err := run(t, args...); err != nil {
				t.Fatal(err)
			}
			if second := transitions(); second != first {
				t.Errorf("finding transitions: %d after one replay, %d after replaying again over the same store", first, second)
			}
		})
	}
}
