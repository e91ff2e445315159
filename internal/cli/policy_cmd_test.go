package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 14, case 7: `policy check` refuses what the policy decode would merge,
// drop or misread, naming the key and line (and the nearest known name). An
// error from the command is exit status 1 (main.go).
func TestPolicyCheckRefusesWhatWouldMergeSilently(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"remediation twice", "remediation: {mode: dry-run}\nremediation: {mode: auto}\n",
			[]string{"line 2: remediation: key given twice (first on line 1)"}},
		{"second document", "cloud: AzureCloud\n---\nremediation: {mode: auto}\n",
			[]string{"line 2: a second YAML document"}},
		{"eastuss", "allowedRegions: [eastuss]\n",
			[]string{"line 1: allowedRegions[0]: unknown region \"eastuss\" (did you mean eastus?)"}},
		{"marsnorth", "allowedRegions: [marsnorth]\n",
			[]string{"line 1: allowedRegions[0]: unknown region \"marsnorth\""}},
		{"United Stats", "allowedGeographies: [United Stats]\n",
			[]string{"line 1: allowedGeographies[0]: unknown geography \"United Stats\" (did you mean United States?)"}},
		{"maxDuration 0s", "rules:\n  access.jit-window: {maxDuration: 0s}\n",
			[]string{"line 2: rules.access.jit-window.maxDuration: 0s: a duration must be longer than zero"}},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			out, _, err := run(t, "policy", "check", path)
			if err == nil {
				t.Fatalf("case %d: policy check accepted the file:\n%s", i, out)
			}
			if strings.Contains(out, "valid") {
				t.Errorf("policy check printed %q for a refused file", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("policy check error = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

// A roster file's content is never echoed by policy check: a roster is about people.
func TestPolicyCheckDoesNotEchoTheRoster(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "screened.txt"), []byte("Jane Doe, passport X1234567\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte("roster: screened.txt\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := run(t, "policy", "check", path)
	if err == nil {
		t.Fatalf("policy check accepted a roster that is not object IDs:\n%s", out)
	}
	if !strings.Contains(err.Error(), "screened.txt line 1: not an object ID") {
		t.Errorf("error = %q, want the file and line named", err)
	}
	if all := err.Error() + out + errOut; strings.Contains(all, "Jane") || strings.Contains(all, "X1234567") {
		t.Errorf("policy check repeated the roster's content: %q", all)
	}
}
