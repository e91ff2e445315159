package policyfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The case 7: what the decode would merge, drop or misread is refused,
// naming the key and line (and the nearest known name, for a misspelt region).
func TestParseRefusesWhatWouldMergeSilently(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // each must appear in the error
	}{
		{"top-level key twice", "remediation: {mode: dry-run}\nremediation: {mode: auto}\n",
			[]string{"line 2: remediation: key given twice (first on line 1)"}},
		{"key twice in a mapping", "rules:\n  transit.tls:\n    mode: alert\n    mode: \"off\"\n",
			[]string{"line 4: rules.transit.tls.mode: key given twice (first on line 3)"}},
		{"rule twice", "rules:\n  access.jit-window: {maxDuration: 3h}\n  access.jit-window: {maxDuration: 30h}\n",
			[]string{"line 3: rules.access.jit-window: key given twice (first on line 2)"}},
		{"key twice in an exemption", "exemptions:\n  - resource: /subscriptions/0000/resourceGroups/a\n    rules: [transit.tls]\n    expiresOn: 2027-01-01T00:00:00Z\n    reason: r\n    approvedBy: a@b.c\n    resource: /subscriptions/0000\n",
			[]string{"line 7: exemptions[0].resource: key given twice (first on line 2)"}},
		{"key twice, differing in case", "remediation: {mode: dry-run}\nRemediation: {mode: auto}\n",
			[]string{"line 2: Remediation: key given twice (first as \"remediation\" on line 1)"}},
		{"merge key", "base: &b {mode: auto}\nremediation:\n  <<: *b\n",
			[]string{"line 3: remediation.<<: merge keys are not allowed"}},
		{"second document", "cloud: AzureCloud\n---\nremediation: {mode: auto}\n",
			[]string{"line 2: a second YAML document"}},
		{"second document after an empty first", "---\n---\nremediation: {mode: auto}\n",
			[]string{"line 2: a second YAML document"}},
		{"second document holding only null", "cloud: AzureCloud\n---\n~\n",
			[]string{"line 2: a second YAML document"}},
		{"misspelt region", "allowedRegions: [eastus2, eastuss]\n",
			[]string{"line 1: allowedRegions[1]: unknown region \"eastuss\"", "did you mean eastus?"}},
		{"misspelt region, block list", "cloud: AzureCloud\nallowedRegions:\n  - westus3\n  - East USS\n",
			[]string{"line 4: allowedRegions[1]: unknown region \"East USS\"", "did you mean eastus?"}},
		{"unknown region", "allowedRegions: [marsnorth]\n",
			[]string{"line 1: allowedRegions[0]: unknown region \"marsnorth\": no Azure region has this name"}},
		{"misspelt geography", "allowedGeographies: [United Stats]\n",
			[]string{"line 1: allowedGeographies[0]: unknown geography \"United Stats\"", "did you mean United States?"}},
		{"unknown geography", "allowedRegions: [eastus]\nallowedGeographies:\n  - Atlantis\n",
			[]string{"line 3: allowedGeographies[0]: unknown geography \"Atlantis\""}},
		{"zero maxDuration", "rules:\n  access.jit-window: {maxDuration: 0s}\n",
			[]string{"line 2: rules.access.jit-window.maxDuration: 0s: a duration must be longer than zero"}},
		{"zero ISO 8601 maxDuration", "rules:\n  access.jit-window:\n    maxDuration: PT0S\n",
			[]string{"line 3: rules.access.jit-window.maxDuration: 0s"}},
		{"negative grace", "rules:\n  access.jit-overstay:\n    grace: -5m\n",
			[]string{"line 3: rules.access.jit-overstay.grace: -5m0s: a duration must be longer than zero"}},
		{"bare zero grace", "rules:\n  access.jit-overstay: {grace: 0}\n",
			[]string{"line 2: rules.access.jit-overstay.grace"}},
		{"zero silence", "rules:\n  monitoring.activity-log:\n    silence: 0s\n",
			[]string{"line 3: rules.monitoring.activity-log.silence: 0s: a duration must be longer than zero"}},
		{"negative ISO 8601 silence", "rules:\n  monitoring.activity-log: {silence: -PT1H}\n",
			[]string{"line 2: rules.monitoring.activity-log.silence"}},
		{"bare zero silence", "rules:\n  monitoring.activity-log: {silence: 0}\n",
			[]string{"line 2: rules.monitoring.activity-log.silence"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse(%q) accepted the policy", tt.yaml)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse(%q) error = %q, want it to contain %q", tt.yaml, err, w)
				}
			}
		})
	}
}

// What is harmless stays valid: an empty trailing document, a leading ---, a
// region written as its display name, a geography in another case.
func TestParseAcceptsHarmlessForms(t *testing.T) {
	for _, y := range []string{
		"cloud: AzureCloud\n---\n",
		"cloud: AzureCloud\n---\n# nothing more\n",
		"---\ncloud: AzureCloud\n",
		"cloud: AzureCloud\n...\n",
		"",
		"allowedRegions: [East US 2, eastus2euap, centraluseuap, taiwannorth]\n",
		"allowedGeographies: [united states, Taiwan]\n",
		"rules:\n  access.jit-window: {maxDuration: 1s}\n  access.jit-overstay: {grace: PT1M}\n",
		"rules:\n  monitoring.activity-log: {silence: PT48H}\n",
	} {
		if _, err := Parse([]byte(y)); err != nil {
			t.Errorf("Parse(%q): %v", y, err)
		}
	}
}

// Every policy the project ships or documents still loads.
func TestShippedPoliciesStillLoad(t *testing.T) {
	var paths []string
	err := filepath.WalkDir("../../testdata", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".policy.yaml") || strings.HasPrefix(p, filepath.Join("../../testdata", "whatif"))) {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	examples, _ := filepath.Glob("../../infra/*.example.yaml")
	paths = append(paths, examples...)
	if len(paths) < 20 {
		t.Fatalf("found %d policy files, want the testdata sessions, whatif and infra examples", len(paths))
	}
	for _, p := range paths {
		if _, err := Load(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if _, err := Parse(defaultYAML); err != nil {
		t.Errorf("default.yaml: %v", err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(readme, -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no yaml example")
	}
	for _, b := range blocks {
		if _, err := Parse(b[1]); err != nil {
			t.Errorf("README example %q: %v", b[1], err)
		}
	}
}

// A roster file's errors name the file and line, never the line's text.
func TestRosterErrorsDoNotEchoTheFile(t *testing.T) {
	dir := t.TempDir()
	secret := "Jane Doe, passport X1234567"
	roster := "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\n" + secret + "\n"
	if err := os.WriteFile(filepath.Join(dir, "roster.txt"), []byte(roster), 0o600); err != nil {
		t.Fatal(err)
	}
	pf := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pf, []byte("cloud: AzureCloud\nroster: roster.txt\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(pf)
	if err == nil {
		t.Fatal("a roster line that is not an object ID was accepted")
	}
	if want := "line 2: roster: roster.txt line 2: not an object ID"; !strings.Contains(err.Error(), want) {
		t.Errorf("error = %q, want it to contain %q", err, want)
	}
	for _, part := range []string{"Jane", "X1234567"} {
		if strings.Contains(err.Error(), part) {
			t.Errorf("error %q repeats the roster file's content", err)
		}
	}
	_, err = Parse([]byte("roster: [" + secret + "]"))
	if err == nil || !strings.Contains(err.Error(), "roster[0]") || strings.Contains(err.Error(), "X1234567") {
		t.Errorf("inline roster error = %v, want roster[0] named and the entry not repeated", err)
	}
}
