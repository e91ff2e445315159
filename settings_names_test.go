package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Each notification URL setting has one name, EXPORTGUARD_* as every setting of
// the app, in the code, the help, the README, docs/, infra/, the example
// policies and the sample settings. The names used before (infra/ set
// TEAMS_WEBHOOK_URL, the help said NOTIFY_TEAMS_URL) appear only where they are
// still read for deployments made with them, and in that fallback's test.
func TestNotifySettingsHaveOneName(t *testing.T) {
	names := map[string]string{
		"teams":   "EXPORTGUARD_TEAMS_URL",
		"slack":   "EXPORTGUARD_SLACK_URL",
		"webhook": "EXPORTGUARD_WEBHOOK_URL",
	}
	renamed := map[string]string{
		"TEAMS_WEBHOOK_URL": names["teams"], "NOTIFY_TEAMS_URL": names["teams"],
		"SLACK_WEBHOOK_URL": names["slack"], "NOTIFY_SLACK_URL": names["slack"],
		"NOTIFY_WEBHOOK_URL": names["webhook"],
	}
	old := regexp.MustCompile(`\b(?:TEAMS_WEBHOOK_URL|SLACK_WEBHOOK_URL|NOTIFY_WEBHOOK_URL|NOTIFY_TEAMS_URL|NOTIFY_SLACK_URL)\b`)
	fallback := map[string]bool{
		"internal/cli/notify_settings.go": true, // reads them for deployments made with them
		"internal/cli/drift_test.go":      true, // tests that
		"settings_names_test.go":          true, // this test
	}
	skip := map[string]bool{".git": true, "node_modules": true, "bin": true, "dist": true, "artefacts": true}
	scanned := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if skip[d.Name()] {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasSuffix(path, ".gz") || strings.HasSuffix(path, ".png") || strings.HasSuffix(path, ".db") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		scanned++
		if fallback[filepath.ToSlash(path)] {
			return nil
		}
		for i, l := range strings.Split(string(b), "\n") {
			if m := old.FindString(l); m != "" {
				t.Errorf("%s:%d names %s; the setting is called %s", path, i+1, m, renamed[m])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if scanned < 100 {
		t.Fatalf("scanned only %d files", scanned)
	}
	// And the one name is where a user or a deployment looks for it.
	for file, want := range map[string][]string{
		"README.md":                     {names["teams"], names["slack"], names["webhook"]},
		"docs/policy.md":                {names["teams"]},
		"infra/keyvault.tf":             {names["teams"], names["slack"], names["webhook"]},
		"infra/variables.tf":            {names["teams"], names["slack"], names["webhook"]},
		"infra/policy.example.yaml":     {"env:" + names["teams"], "env:" + names["slack"]},
		"infra/policy.gov.example.yaml": {"env:" + names["teams"]},
		"local.settings.sample.json":    {`"` + names["teams"] + `"`, `"` + names["slack"] + `"`, `"` + names["webhook"] + `"`},
		"internal/cli/notify_cmd.go":    {names["teams"]},
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s does not name %s", file, w)
			}
		}
	}
}
