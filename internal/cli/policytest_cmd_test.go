package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
)

// policyTestPolicy is the gov-storage-replication policy with an exemption of
// encryption.cmk on one group: run over that session and exemption-expiry's,
// policy test has open, resolved and exempt findings and rules with none.
const policyTestPolicy = `cloud: AzureUSGovernment
allowedRegions: [usgovvirginia]
rules:
  residency.replication: {mode: alert, severity: critical}
exemptions:
  - resource: /subscriptions/b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80/resourceGroups/rg-itar-gov
    rules: [encryption.cmk]
    expiresOn: 2030-01-01T00:00:00Z
    reason: CMK rollout tracked in change 4411
    approvedBy: export.officer@contoso.com
`

var policyTestSessions = []string{"testdata/sessions/gov-storage-replication.ndjson", "testdata/sessions/exemption-expiry.ndjson"}

func writePolicyTestPolicy(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(policyTestPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// policy test prints, per rule, what the rule found, in each format as the
// goldens show (go test -update rewrites them; read the diff).
func TestPolicyTestMatchesGolden(t *testing.T) {
	t.Parallel()
	pol := writePolicyTestPolicy(t)
	for _, tc := range []struct{ golden, format, columns string }{
		{"policy-test.table.txt", "table", ""},
		{"policy-test.table-100.txt", "table", "100"},
		{"policy-test.ndjson", "json", ""},
		{"policy-test.csv", "csv", ""},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			t.Parallel()
			app := envApp(map[string]string{"COLUMNS": tc.columns})
			out, _, err := runApp(t, app, append([]string{"policy", "test", "--format", tc.format, pol}, policyTestSessions...)...)
			if err != nil {
				t.Fatal(err)
			}
			checkTextGolden(t, tc.golden, out)
		})
	}
}

// Every rule the pipeline runs is listed once, those that found nothing with
// zeros, and the findings are exactly the ones replay gives for the same
// policy and sessions, each under its rule with the counts matching.
func TestPolicyTestListsEveryRuleWithReplaysFindings(t *testing.T) {
	t.Parallel()
	pol := writePolicyTestPolicy(t)
	out, _, err := run(t, append([]string{"policy", "test", "--format", "json", pol}, policyTestSessions...)...)
	if err != nil {
		t.Fatal(err)
	}
	replayed, _, err := run(t, append([]string{"replay", "--format", "json", "--policy", pol}, policyTestSessions...)...)
	if err != nil {
		t.Fatal(err)
	}
	var want []guard.Finding
	for line := range strings.Lines(replayed) {
		var f guard.Finding
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("replay printed %q: %v", line, err)
		}
		want = append(want, f)
	}
	var got []guard.Finding
	var rules []string
	statuses := map[guard.Status]bool{}
	for line := range strings.Lines(out) {
		var r ruleResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("policy test printed %q: %v", line, err)
		}
		rules = append(rules, r.Rule)
		n := map[guard.Status]int{}
		for _, f := range r.Findings {
			if f.Rule != r.Rule {
				t.Errorf("rule %s lists a finding of %s", r.Rule, f.Rule)
			}
			n[f.Status]++
			statuses[f.Status] = true
		}
		if r.Open != n[guard.StatusOpen] || r.Resolved != n[guard.StatusResolved] || r.Exempt != n[guard.StatusExempt] {
			t.Errorf("rule %s counts %d/%d/%d open/resolved/exempt, its findings %v", r.Rule, r.Open, r.Resolved, r.Exempt, n)
		}
		if r.Mode == "" || r.Severity == "" {
			t.Errorf("rule %s: mode %q, severity %q", r.Rule, r.Mode, r.Severity)
		}
		got = append(got, r.Findings...)
	}
	sorted := slices.Clone(rules)
	slices.Sort(sorted)
	if len(slices.Compact(sorted)) != len(rules) {
		t.Errorf("a rule is listed twice: %v", rules)
	}
	for _, id := range guard.RuleIDs {
		if !slices.Contains(rules, id) {
			t.Errorf("rule %s is not listed (a rule that found nothing is listed with zeros): %v", id, rules)
		}
	}
	if len(statuses) != 3 {
		t.Errorf("the test wants open, resolved and exempt findings; got %v", statuses)
	}
	sortFindings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("policy test's findings differ from replay's (-replay +policy test):\n%s", diff)
	}
}

func TestPolicyTestExitStatus(t *testing.T) {
	t.Parallel()
	pol := writePolicyTestPolicy(t)
	session := policyTestSessions[0]
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no session", []string{pol}, ExitUsage, "requires at least 2 arg(s)"},
		{"nothing", nil, ExitUsage, "requires at least 2 arg(s)"},
		{"unknown format", []string{"--format", "yaml", pol, session}, ExitUsage, "want table, json or csv"},
		{"unknown flag", []string{"--store", "memory:", pol, session}, ExitUsage, "unknown flag"},
		{"missing policy", []string{"testdata/nope.policy.yaml", session}, ExitFailed, "nope.policy.yaml"},
		{"missing session", []string{pol, "testdata/sessions/nope.ndjson"}, ExitFailed, "nope.ndjson"},
		{"not a session", []string{pol, "go.mod"}, ExitFailed, "not a recorded session"},
		{"a session as the policy", []string{session, session}, ExitFailed, "gov-storage-replication.ndjson"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, _, err := run(t, append([]string{"policy", "test"}, tc.args...)...)
			if code := exitCode(err); code != tc.code {
				t.Fatalf("exit %d (%v), want %d", code, err, tc.code)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			if out != "" {
				t.Errorf("printed %q on a refused command", out)
			}
		})
	}
}
