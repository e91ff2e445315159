package cli

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/rules"
)

// exportguard rules lists every rule the rules package has (the set replay
// and scan run) and every ID the policy accepts, in a table and in JSON, as
// the golden files say.
func TestRulesVerb(t *testing.T) {
	t.Parallel()
	var want []string
	for _, r := range rules.All() {
		if !slices.Contains(want, r.ID()) {
			want = append(want, r.ID())
		}
	}
	for _, id := range guard.RuleIDs {
		if !slices.Contains(want, id) {
			t.Errorf("the policy's rule %s is not in rules.All()", id)
		}
	}
	for _, tc := range []struct{ format, golden string }{
		{"table", "rules.txt"},
		{"json", "rules.ndjson"},
		{"csv", "rules.csv"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			stdout, stderr, err := run(t, "rules", "--format", tc.format)
			if err != nil || stderr != "" {
				t.Fatalf("rules --format %s: %v\n%s", tc.format, err, stderr)
			}
			var listed []string
			if tc.format == "csv" {
				recs, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
				if err != nil || len(recs) < 2 || recs[0][0] != "id" {
					t.Fatalf("csv: %v\n%s", err, stdout)
				}
				for _, r := range recs[1:] {
					listed = append(listed, r[0])
				}
			}
			for line := range strings.Lines(stdout) {
				if tc.format == "csv" {
					break
				}
				if tc.format == "json" {
					var r ruleInfo
					if err := json.Unmarshal([]byte(line), &r); err != nil {
						t.Fatalf("%q: %v", line, err)
					}
					if len(r.Types) == 0 || len(r.Modes) == 0 || len(r.Severities) == 0 || len(r.Defaults) < 2 || r.Finds == "" {
						t.Errorf("%s: %+v: want types, modes, severities, its defaults and what it finds", r.ID, r)
					}
					listed = append(listed, r.ID)
				} else if id, _, _ := strings.Cut(line, " "); slices.Contains(want, id) {
					listed = append(listed, id)
				}
			}
			if !slices.Equal(listed, want) {
				t.Errorf("listed %v, want every rule once: %v", listed, want)
			}
			compareGolden(t, filepath.Join("testdata/golden", tc.golden), stdout)
		})
	}
	if _, _, err := run(t, "rules", "--format", "xml"); exitCode(err) != ExitUsage {
		t.Errorf("rules --format xml: %v, want a usage error", err)
	}
}

// compareGolden compares got with the file at path (-update writes it).
func compareGolden(t *testing.T, path, got string) {
	t.Helper()
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
