package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
)

// The four custom rules docs/custom-rules.md ships, each over its session
// (testdata/sessions/custom-NAME.ndjson, bodies shaped as the REST specs'
// examples): policy test finds, under the custom rule, the positive resources
// (open, or resolved once fixed) and none of the negative ones; and a what-if
// from the built-in policy to the example's adds exactly those findings.
// (Each session also has one resource a built-in rule finds: the what-if shows
// the built-in findings stay the same.)
func TestCustomRuleExamples(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, rule     string
		open, resolved []string // resource names
	}{
		{"storage-public-blob", "custom.storage-public-blob", []string{"itarbidpkg"}, []string{"itarcadshare"}},
		{"keyvault-purge-protection", "custom.keyvault-purge-protection", []string{"kv-build-legacy"}, []string{"kv-itar-cmk"}},
		{"sql-public-network", "custom.sql-public-network", []string{"sql-build-legacy"}, []string{"sql-itar-east"}},
		{"itar-usgov-region", "custom.itar-usgov-region", []string{"itarstage"}, []string{"kv-itar-stage"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pol := "testdata/sessions/custom-" + tc.name + ".policy.yaml"
			session := "testdata/sessions/custom-" + tc.name + ".ndjson"
			out, _, err := run(t, "policy", "test", "--format", "json", pol, session)
			if err != nil {
				t.Fatal(err)
			}
			var open, resolved []string
			for line := range strings.Lines(out) {
				var r ruleResult
				if err := json.Unmarshal([]byte(line), &r); err != nil {
					t.Fatal(err)
				}
				for _, f := range r.Findings {
					switch {
					case r.Rule != tc.rule:
					case f.Status == guard.StatusOpen:
						open = append(open, resourceName(f.ResourceID))
					case f.Status == guard.StatusResolved:
						resolved = append(resolved, resourceName(f.ResourceID))
					default:
						t.Errorf("%s: %s %s", tc.rule, f.Status, f.ResourceID)
					}
				}
			}
			slices.Sort(open)
			slices.Sort(resolved)
			if !slices.Equal(open, tc.open) || !slices.Equal(resolved, tc.resolved) {
				t.Errorf("%s: open %v, resolved %v; want open %v, resolved %v", tc.rule, open, resolved, tc.open, tc.resolved)
			}

			builtin := t.TempDir() + "/builtin.yaml"
			if err := os.WriteFile(builtin, []byte("cloud: AzureCloud\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			diff, _, err := run(t, "replay", "--format", "json", "--policy", pol, "--compare", builtin, session)
			if err != nil {
				t.Fatal(err)
			}
			var added []string
			for line := range strings.Lines(diff) {
				var d findingDiff
				if err := json.Unmarshal([]byte(line), &d); err != nil {
					t.Fatal(err)
				}
				if d.Change != "added" || d.Rule != tc.rule {
					t.Errorf("what-if: %s %s %s, want only %s added", d.Change, d.Rule, d.ResourceID, tc.rule)
				}
				added = append(added, resourceName(d.ResourceID))
			}
			slices.Sort(added)
			if want := slices.Sorted(slices.Values(append(slices.Clone(tc.open), tc.resolved...))); !slices.Equal(added, want) {
				t.Errorf("what-if adds %v, want %v", added, want)
			}
		})
	}
}

// A custom rule's findings reach the report as a built-in rule's do: counted
// by rule, grouped under their rule, each row with its message and who made
// the change.
func TestReportShowsCustomRuleFindings(t *testing.T) {
	t.Parallel()
	url := "sqlite:" + filepath.Join(t.TempDir(), "custom.db")
	if _, _, err := run(t, "replay", "--store", url, "--policy", "testdata/sessions/custom-storage-public-blob.policy.yaml",
		"testdata/sessions/custom-storage-public-blob.ndjson"); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, "report", "--store", url, "--format", "md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| custom.storage-public-blob | 1 |",
		"### `custom.storage-public-blob`: **1 open** (worst: high), 0 exempt, 1 resolved",
		"itarbidpkg",
		"| bob.okafor@contoso.com |",
		"ITAR storage account itarbidpkg in rg-itar-eng allows public blob access.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
