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

// rules --policy FILE lists the file's custom rules after the built-in ones,
// with the expression, mode and severity the file gives them; a file whose
// custom rule does not compile is refused as every verb refuses it.
func TestRulesVerbListsAPolicysCustomRules(t *testing.T) {
	t.Parallel()
	stdout, stderr, err := run(t, "rules", "--format", "json", "--policy", "testdata/sessions/custom-storage-public-blob.policy.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var ids []string
	var custom ruleInfo
	for line := range strings.Lines(stdout) {
		var r ruleInfo
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		ids = append(ids, r.ID)
		if r.ID == "custom.storage-public-blob" {
			custom = r
		}
	}
	if n := len(ids); n != len(guard.RuleIDs)+1 || ids[n-1] != "custom.storage-public-blob" ||
		!slices.Equal(slices.Sorted(slices.Values(ids[:n-1])), slices.Sorted(slices.Values(guard.RuleIDs))) {
		t.Errorf("listed %v, want every built-in rule, then custom.storage-public-blob", ids)
	}
	if !strings.Contains(custom.Finds, "allowBlobPublicAccess") || !slices.Equal(custom.Types, []string{"Microsoft.Storage/storageAccounts"}) ||
		!slices.Equal(custom.Modes, []string{"off", "alert"}) || len(custom.Defaults) != 2 || custom.Defaults[0].Value != "alert" {
		t.Errorf("custom rule listed as %+v", custom)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("customRules:\n  - id: custom.x\n    types: [Microsoft.Storage/storageAccounts]\n    violation: resourc.location == 'x'\n    message: m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "rules", "--policy", bad); exitCode(err) != ExitFailed || !strings.Contains(err.Error(), "bad.yaml:4: customRules[0] custom.x") {
		t.Errorf("rules --policy with a rule that does not compile: %v", err)
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
