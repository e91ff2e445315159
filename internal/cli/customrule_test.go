package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/resourcegraph/rgtest"
	"github.com/exportguard/exportguard/pkg/resourcemanager/armtest"
)

// Issue 19: a custom rule's findings go where a built-in rule's go. Replaying
// storage-replication with testdata/customrules/storage.yaml: itardrawings
// (Standard_GRS) opens and stays open; partnerxfer opens (Standard_RAGRS) and
// resolves when it turns Standard_LRS; eudrbackup (Standard_GZRS) is exempt,
// as the policy's exemption on the custom ID says. Every transition is in the
// audit trail and told to Teams, Slack and the webhook (checkTold).
func TestReplayCustomRule(t *testing.T) {
	t.Parallel()
	const rule = "custom.geo-redundant"
	tg := newTargets(t)
	s := sessionCase{policy: "testdata/customrules/storage.yaml"}
	db := filepath.Join(t.TempDir(), "custom.db")
	out, errOut, err := runApp(t, tg.app(), "replay", "--format", "json", "--store", "sqlite:"+db,
		"--policy", sessionPolicy(t, s), "testdata/sessions/storage-replication.ndjson")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	got := map[string]guard.Finding{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var f guard.Finding
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			t.Fatalf("not a finding: %q", l)
		}
		if f.Rule == rule {
			got[lastSeg(f.ResourceID)] = f
		}
	}
	want := map[string]guard.Status{"itardrawings": guard.StatusOpen, "partnerxfer": guard.StatusResolved, "eudrbackup": guard.StatusExempt}
	for name, status := range want {
		f, ok := got[name]
		switch {
		case !ok:
			t.Errorf("no %s finding on %s (findings: %s)", rule, name, out)
		case f.Status != status || f.Severity != "critical":
			t.Errorf("%s on %s: %s, severity %s; want %s, critical", rule, name, f.Status, f.Severity, status)
		case f.Evidence["expression"] != "resource.?sku.?name.orValue('').matches('GRS|GZRS')":
			t.Errorf("%s on %s: evidence %v, want the expression", rule, name, f.Evidence)
		}
	}
	if f := got["itardrawings"]; f.Message != "Storage account itardrawings in rg-itar-eng keeps a copy of its data in a second region." {
		t.Errorf("message %q", f.Message)
	}
	if len(got) != len(want) {
		t.Errorf("%d %s findings, want %d", len(got), rule, len(want))
	}
	// The audit trail holds the custom rule's transitions, and each was told.
	byCard, _ := expectedTold(t, db)
	var custom []string
	for _, c := range byCard {
		if strings.Contains(c, " | "+rule+" | ") {
			custom = append(custom, c)
		}
	}
	if len(custom) != 3 { // itardrawings opened, partnerxfer opened and resolved
		t.Errorf("the audit trail tells %d transitions of %s, want 3: %q", len(custom), rule, custom)
	}
	checkTold(t, tg, db)
	told := false
	for _, r := range tg.webhook.Requests() {
		told = told || strings.Contains(string(r.Body), `"rule":"`+rule+`"`)
	}
	if !told {
		t.Errorf("no webhook event carries %s", rule)
	}
}

// replay --compare with a new policy that adds a custom rule lists what the
// rule would have found over the session, and nothing else.
func TestWhatIfAddsACustomRule(t *testing.T) {
	t.Parallel()
	out, stderr, err := whatIf(t, "json", "testdata/customrules/whatif-new.yaml", "testdata/whatif/old.yaml", "testdata/sessions/storage-replication.ndjson")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var added []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var d findingDiff
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if d.Change != "added" || d.Rule != "custom.infrastructure-encryption" || d.New == nil || d.New.Status != guard.StatusOpen || d.New.Severity != "low" {
			t.Errorf("unexpected difference: %s", line)
			continue
		}
		added = append(added, lastSeg(d.ResourceID))
	}
	slices.Sort(added)
	if want := []string{"eudrbackup", "itardrawings", "partnerxfer"}; !slices.Equal(added, want) {
		t.Errorf("added %v, want %v", added, want)
	}
	if !strings.Contains(stderr, "3 added, 0 dropped, 0 changed, 7 the same") {
		t.Errorf("summary: %s", stderr)
	}
}

// A scan judges the types only a custom rule asks for (scan.JudgedTypes
// asks each rule), and the custom rule's findings open.
func TestScanJudgesACustomRule(t *testing.T) {
	t.Parallel()
	srv := rgtest.New()
	defer srv.Close()
	for i, public := range []bool{true, false, true} {
		b := inUS(scanAccount(scanSubA, fmt.Sprintf("stpub%d", i)))
		b["properties"].(map[string]any)["allowBlobPublicAccess"] = public
		srv.Put(b)
	}
	srv.Put(armtest.StorageAccount(scanAccount(scanSubA, "stnoflag"), "eastus", "Standard_LRS", ""))
	var yaml strings.Builder
	yaml.WriteString("rules:\n")
	for _, id := range guard.RuleIDs {
		fmt.Fprintf(&yaml, "  %s: {mode: \"off\"}\n", id) // only the custom rule judges
	}
	yaml.WriteString(`customRules:
  - id: custom.storage-public-blob
    types: [Microsoft.Storage/storageAccounts]
    violation: resource.properties.?allowBlobPublicAccess.orValue(false) == true
    message: "Storage account {{name}} allows public blob access."
    severity: high
`)
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, []byte(yaml.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	store := "sqlite:" + filepath.Join(dir, "scan.db")
	run := runScanCommand(t, srv, store, "--policy", pol, "--format", "json", "--subscription", scanSubA)
	if run.err != nil {
		t.Fatalf("scan: %v\n%s", run.err, run.stderr)
	}
	for name, want := range map[string]guard.Status{"stpub0": guard.StatusOpen, "stpub2": guard.StatusOpen} {
		if f := findingOf(t, store, "custom.storage-public-blob", scanAccount(scanSubA, name)); f.Status != want || f.Message != "Storage account "+name+" allows public blob access." {
			t.Errorf("%s: %s %q", name, f.Status, f.Message)
		}
	}
	if n := strings.Count(run.stdout, "\n"); n != 2 {
		t.Errorf("scan printed %d findings, want 2:\n%s", n, run.stdout)
	}
	if !strings.Contains(run.stderr, "4 resource(s) judged") {
		t.Errorf("stderr: %s", run.stderr)
	}
}

// policy check lists each custom rule and whether it compiled; one that does
// not makes the check fail (exit 1), naming the rule, the file and line, and
// CEL's column.
func TestPolicyCheckCustomRules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := `customRules:
  - id: custom.sql-public-network
    types: [Microsoft.Sql/servers]
    violation: resource.properties.?publicNetworkAccess.orValue('Enabled') != 'Disabled'
    message: "SQL server {{name}} accepts connections from public networks."
`
	bad := good + `  - id: custom.storage-public-blob
    types: [Microsoft.Storage/storageAccounts]
    violation: resourc.properties.?allowBlobPublicAccess.orValue(false)
    message: "{{name}}"
`
	goodPath, badPath := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "bad.yaml")
	for p, s := range map[string]string{goodPath: good, badPath: bad} {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, _, err := run(t, "policy", "check", goodPath)
	if err != nil || !strings.Contains(out, goodPath+": valid") ||
		!strings.Contains(out, "custom rule custom.sql-public-network: alert, severity medium, types Microsoft.Sql/servers: compiled") {
		t.Errorf("policy check good: %v\n%s", err, out)
	}
	wantErr := badPath + ":8: customRules[1] custom.storage-public-blob: violation: ERROR: <input>:1:1: undeclared reference to 'resourc'"
	for _, format := range []string{"table", "json", "csv"} {
		out, _, err = run(t, "policy", "check", badPath, "--format", format)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("--format %s: error = %v, want %q", format, err, wantErr)
		}
		if exitCode(err) != ExitFailed {
			t.Errorf("--format %s: exit %d, want 1", format, exitCode(err))
		}
		if !strings.Contains(out, "custom.sql-public-network") || !strings.Contains(out, "custom.storage-public-blob") {
			t.Errorf("--format %s does not list both custom rules:\n%s", format, out)
		}
	}
	if out, _, _ := run(t, "policy", "check", badPath, "--format", "json"); !strings.Contains(out, `"compiled":false`) || !strings.Contains(out, `"compiled":true`) {
		t.Errorf("json does not say which compiled:\n%s", out)
	}
	// Every verb refuses it the same way, before doing anything.
	_, _, err = run(t, "replay", "--policy", badPath, "testdata/sessions/storage-replication.ndjson")
	if err == nil || !strings.Contains(err.Error(), wantErr) {
		t.Errorf("replay: error = %v, want %q", err, wantErr)
	}
	// policy show writes the custom rules back as the file gives them.
	shown, _, err := run(t, "policy", "show", goodPath)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policyfile.Parse([]byte(shown))
	if err != nil || len(p.CustomRules) != 1 || p.CustomRules[0].Violation != "resource.properties.?publicNetworkAccess.orValue('Enabled') != 'Disabled'" {
		t.Errorf("policy show does not round-trip the custom rule: %v\n%s", err, shown)
	}
}
