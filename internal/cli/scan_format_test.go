package cli

import (
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/exportguard/exportguard/pkg/resourcegraph/rgtest"
	"github.com/exportguard/exportguard/pkg/resourcemanager"
)

// scan --format table|json|csv against a local Resource Graph and ARM (scan
// needs Azure, so it is run in-process; the other verbs' formats are judged
// through the binary, in the repository root's format_test.go).
func TestScanFormats(t *testing.T) {
	t.Parallel()
	srv := rgtest.New()
	defer srv.Close()
	out := scanAccount(scanSubA, "stout"+strings.Repeat("x", 15))
	srv.Put(outOfUS(out))
	srv.Put(inUS(scanAccount(scanSubA, "stin")))
	for _, format := range []string{"table", "json", "csv"} {
		t.Run(format, func(t *testing.T) {
			app := envApp(map[string]string{"COLUMNS": "80"})
			app.Now = func() time.Time { return scanNow }
			app.NewARM = func(cloudName string, _ resourcemanager.Options) (*resourcemanager.Client, error) {
				return resourcemanager.NewDefault(cloudName, resourcemanager.Options{Credential: rgtest.Credential(), ARM: srv.ClientOptions()})
			}
			store := "sqlite:" + filepath.Join(t.TempDir(), "scan.db")
			stdout, stderr, err := runApp(t, app, "scan", "--store", store, "--subscription", scanSubA, "--format", format)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			switch format {
			case "table":
				for _, l := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
					if utf8.RuneCountInString(l) > 80 {
						t.Errorf("a table line of %d, COLUMNS=80: %q", utf8.RuneCountInString(l), l)
					}
				}
				if !strings.Contains(stdout, "rg-estate") || strings.Contains(stdout, "/subscriptions/") {
					t.Errorf("the table must name the group, not the whole ID:\n%s", stdout)
				}
			case "json":
				lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
				for _, l := range lines {
					var f map[string]any
					if err := json.Unmarshal([]byte(l), &f); err != nil {
						t.Errorf("not a JSON line: %q: %v", l, err)
					}
				}
				if !strings.Contains(stdout, `"resourceId":"`+out+`"`) {
					t.Errorf("no finding of %s:\n%s", out, stdout)
				}
			case "csv":
				rows, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(strings.Join(rows[0], ","), "resourceId") || !strings.Contains(stdout, ","+out+",") {
					t.Errorf("csv without the full resource ID %s:\n%s", out, stdout)
				}
			}
		})
	}
}
