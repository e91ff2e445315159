package policyfile

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

var update = flag.Bool("update", false, "rewrite testdata/parse.golden")

// compatCases are the YAML forms whose reading must not drift: YAML 1.1 words,
// numbers and dates in text fields, durations, env:NAME URLs, keys in another
// case, nulls, and the refusals (with key and line). The results were recorded
// with the parse this package had before it moved from sigs.k8s.io/yaml to
// yaml.v3 alone (issue 17), so the golden proves the move changed nothing a
// policy gets.
var compatCases = []string{
	// Rule and remediation modes, YAML 1.1 words included.
	"rules: {transit.tls: {mode: off}}",
	"rules: {transit.tls: {mode: Off}}",
	"rules: {transit.tls: {mode: OFF}}",
	"rules: {transit.tls: {mode: no}}",
	"rules: {transit.tls: {mode: n}}",
	"rules: {transit.tls: {mode: false}}",
	"rules: {transit.tls: {mode: \"off\"}}",
	"rules: {transit.tls: {mode: yes}}",
	"rules: {transit.tls: {mode: on}}",
	"rules: {transit.tls: {mode: true}}",
	"rules: {transit.tls: {mode: 1}}",
	"rules: {transit.tls: {mode: ~}}",
	"rules: {transit.tls: {mode: [alert]}}",
	"rules: {transit.tls: {mode: {a: b}}}",
	"rules: {transit.tls: {Mode: alert}}",
	"rules: {transit.tls: {mode: remediate, severity: critical}}",
	"rules: {transit.tls: {severity: 3}}",
	"rules: {transit.tls: ~}",
	"rules: {transit.tls: {}}",
	"rules: {transit.tls: [mode]}",
	"rules: {transit.tls: alert}",
	"rules: [transit.tls]",
	"rules: ~",
	"rules: {Transit.TLS: {mode: alert}}",
	"remediation: {mode: off}",
	"remediation: {mode: no}",
	"remediation: {mode: N}",
	"remediation: {mode: yes}",
	"remediation: {mode: on}",
	"remediation: {mode: 1}",
	"remediation: {mode: ~}",
	"remediation: {mode: [auto]}",
	"remediation: {Mode: auto}",
	"remediation: ~",
	"remediation: {}",
	"remediation: auto",
	"Remediation:\n  MODE: approve",
	"Remediation: {mode: off}",
	"remediation: {Mode: off}",
	"Rules: {transit.tls: {mode: off}}",
	// Durations.
	"rules: {access.jit-window: {maxDuration: 3h}}",
	"rules: {access.jit-window: {maxDuration: PT3H}}",
	"rules: {access.jit-window: {maxDuration: pt90m}}",
	"rules: {access.jit-window: {maxDuration: P1DT2H}}",
	"rules: {access.jit-window: {maxDuration: \"90m\"}}",
	"rules: {access.jit-window: {maxDuration: 3}}",
	"rules: {access.jit-window: {maxDuration: 0}}",
	"rules: {access.jit-window: {maxDuration: ~}}",
	"rules: {access.jit-window: {maxDuration: [3h]}}",
	"rules: {access.jit-window: {maxDuration: yes}}",
	"rules: {access.jit-window: {maxDuration: forever}}",
	"rules: {access.jit-overstay: {grace: 1h30m}}",
	"rules: {monitoring.activity-log: {silence: P2D}}",
	// Text fields given words, numbers and dates.
	exemption("reason: yes"),
	exemption("reason: no"),
	exemption("reason: on"),
	exemption("reason: off"),
	exemption("reason: y"),
	exemption("reason: Y"),
	exemption("reason: True"),
	exemption("reason: 123"),
	exemption("reason: -7"),
	exemption("reason: 1.50"),
	exemption("reason: 1e3"),
	exemption("reason: 0x10"),
	exemption("reason: 0o17"),
	exemption("reason: 0777"),
	exemption("reason: 1_000"),
	exemption("reason: 0b101"),
	exemption("reason: 12345678901234567890"),
	exemption("reason: 9007199254740993"),
	exemption("reason: 3.14159265358979"),
	exemption("reason: 1e21"),
	exemption("reason: .5"),
	exemption("reason: 2026-12-31"),
	exemption("reason: 2026-12-31T10:00:00Z"),
	exemption("reason: ~"),
	exemption("reason: ''"),
	exemption("reason: \"yes\""),
	exemption("reason: !!str yes"),
	exemption("reason: |\n      licence\n      D-1187"),
	exemption("reason: >\n      licence\n      D-1187"),
	exemption("reason: licence\n      D-1187"),
	exemption("reason: [a]"),
	exemption("approvedBy: no"),
	exemption("Reason: r2\n    APPROVEDBY: x@y.z"),
	// Expiry dates.
	exemption("expiresOn: 2026-12-31"),
	exemption("expiresOn: 2026-12-31T10:00:00Z"),
	exemption("expiresOn: 2026-12-31T10:00:00+02:00"),
	exemption("expiresOn: 2026-12-31T10:00:00.123456789-05:00"),
	exemption("expiresOn: \"2026-12-31T10:00:00Z\""),
	exemption("expiresOn: 2026-12-31 10:00:00"),
	exemption("expiresOn: 2026-12-31t10:00:00z"),
	exemption("expiresOn: 20261231"),
	exemption("expiresOn: ~"),
	exemption("ExpiresOn: 2030-01-01T00:00:00Z"),
	exemption("expiresOn: [2026-12-31T10:00:00Z]"),
	exemption("rules: ~"),
	exemption("rules: []"),
	exemption("rules: transit.tls"),
	exemption("rules: [transit.tls, yes]"),
	exemption("colour: red"),
	"exemptions: [~]",
	"exemptions: [x]",
	"exemptions: []",
	"exemptions: ~",
	"exemptions: x",
	"exemptions:\n  - &e {resource: /subscriptions/0000/resourceGroups/a, expiresOn: 2027-01-01T00:00:00Z, reason: r, approvedBy: a@b.c}\n  - *e\n",
	// Notification targets.
	"notify: {teams: {url: env:TEAMS_URL}}",
	"notify: {teams: {url: \"env:TEAMS_URL\"}, slack: {url: 'https://hooks.slack.com/services/T/B/secret'}, webhook: {url: env:HOOK}}",
	"notify: {teams: {url: http://hooks.example/secret}}",
	"notify: {teams: {url: 123}}",
	"notify: {teams: {url: ~}}",
	"notify: {teams: ~}",
	"notify: {teams: x}",
	"notify: {}",
	"notify: ~",
	"notify: {email: {url: env:X}}",
	"notify: {teams: {url: env:X, colour: red}}",
	"Notify: {Teams: {URL: env:X}}",
	// Cloud, regions, scope.
	"cloud: AzureUSGovernment\nallowedRegions: [usgovvirginia]",
	"Cloud: AzureUSGovernment\nALLOWEDREGIONS: [usgovvirginia]",
	"cloud: ~",
	"cloud: yes",
	"cloud: 1e3",
	"cloud: 0x10",
	"cloud: [AzureCloud]",
	"cloud: {a: b}",
	"allowedRegions: ~",
	"allowedRegions: []",
	"allowedRegions: [~]",
	"allowedRegions: eastus",
	"allowedRegions: [eastus, 1]",
	"allowedRegions: [[eastus]]",
	"allowedGeographies: ~",
	"allowedRegions: ~\nallowedGeographies: [Europe]",
	"allowedRegions: [eastus]\nallowedGeographies: []",
	"allowedRegions: &r [eastus]\nallowedGeographies: *r",
	"scope: ~",
	"scope: {}",
	"scope: {subscriptions: ~}",
	"scope: {subscriptions: []}",
	"scope: {subscriptions: [b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80]}",
	"Scope: {Subscriptions: [B3E1C4D2-8A7F-4E6B-9C5D-2A1F3E4B6C80]}",
	"scope: {subscriptions: b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80}",
	"scope: x",
	"scope: [x]",
	"scope: {colour: red}",
	// Roster.
	"roster: ~",
	"roster: []",
	"roster: [~]",
	"roster: [0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D, ' 1b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e ']",
	"roster: [123]",
	"roster: [yes]",
	"roster: 123",
	"roster: yes",
	"roster: {a: b}",
	"roster: no-such-roster.txt",
	// The document as a whole, and unknown keys.
	"",
	"~",
	"# only a comment\n",
	"[cloud]",
	"cloud",
	"regions: [eastus]",
	"cloud: AzureCloud\n\nregions: [eastus]\n",
	"b: 1\na: 2",
	"on: x",
	"1: x",
	"cloud: AzureChina",
	"cloud: AzureCloud\nrules:\n  transit.tls:\n    mode: shout\n",
	"rules: {residency.everything: {mode: alert}}",
	"remediation: {mode: dry-run}\nremediation: {mode: auto}\n",
	"base: &b {mode: auto}\nremediation: {<<: *b}\n",
	"cloud: AzureCloud\n---\nremediation: {mode: auto}\n",
}

// exemption writes one exemption with field replacing (or adding to) its keys.
func exemption(field string) string {
	base := map[string]string{
		"resource":   "resource: /subscriptions/0000/resourceGroups/rg-a",
		"rules":      "rules: [transit.tls]",
		"expiresOn":  "expiresOn: 2027-06-30T00:00:00Z",
		"reason":     "reason: licence D-1187",
		"approvedBy": "approvedBy: export.officer@contoso.com",
	}
	for name := range base {
		if strings.HasPrefix(strings.ToLower(field), strings.ToLower(name)+":") || strings.Contains(strings.ToLower(field), "\n    "+strings.ToLower(name)+":") {
			delete(base, name)
		}
	}
	lines := []string{field}
	for _, name := range []string{"resource", "rules", "expiresOn", "reason", "approvedBy"} {
		if l, ok := base[name]; ok {
			lines = append(lines, l)
		}
	}
	return "exemptions:\n  - " + strings.Join(lines, "\n    ") + "\n"
}

// shipped is a policy the project ships or documents: a file (read with Load,
// so that a roster file beside it is found) or a README example.
type shipped struct{ name, path, yaml string }

func (s shipped) parse() (*guard.Policy, error) {
	if s.path != "" {
		return Load(s.path)
	}
	return Parse([]byte(s.yaml))
}

// shippedPolicies lists every policy the project ships or documents.
func shippedPolicies(t *testing.T) []shipped {
	t.Helper()
	var out []shipped
	add := func(name string, b []byte) { out = append(out, shipped{name: name, yaml: string(b)}) }
	addFile := func(p string) {
		out = append(out, shipped{name: filepath.ToSlash(strings.TrimPrefix(p, "../../")), path: p})
	}
	err := filepath.WalkDir("../../testdata", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".policy.yaml") || strings.HasPrefix(p, filepath.Join("../../testdata", "whatif"))) {
			addFile(p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	examples, _ := filepath.Glob("../../infra/*.example.yaml")
	for _, p := range examples {
		addFile(p)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(readme, -1) {
		add(fmt.Sprintf("README.md yaml block %d", i+1), b[1])
	}
	add("default.yaml", defaultYAML)
	return out
}

// TestParseMatchesRecordedResults parses every shipped policy and every case
// above and compares what the policy gets (or the refusal) with
// testdata/parse.golden. Run with -update to rewrite it, and read the diff.
func TestParseMatchesRecordedResults(t *testing.T) {
	var b strings.Builder
	for _, s := range shippedPolicies(t) {
		fmt.Fprintf(&b, "=== %s\n%s\n", s.name, outcome(s.parse()))
	}
	for _, c := range compatCases {
		fmt.Fprintf(&b, "=== %q\n%s\n", c, outcome(Parse([]byte(c))))
	}
	golden := filepath.Join("testdata", "parse.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("parse results differ from %s at line %d:\n got: %s\nwant: %s", golden, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("parse results differ from %s in length: got %d lines, want %d", golden, len(gl), len(wl))
	}
}

// outcome writes what a parse gave: the error, or the policy with every field
// spelt out (nil and empty lists apart, times with their zone).
func outcome(p *guard.Policy, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	var b strings.Builder
	dump(&b, "", reflect.ValueOf(*p))
	return b.String()
}

func dump(b *strings.Builder, at string, v reflect.Value) {
	switch x := v.Interface().(type) {
	case time.Time:
		fmt.Fprintf(b, "%s = %s (zone %q %d)\n", at, x.Format(time.RFC3339Nano), x.Location(), func() int { _, o := x.Zone(); return o }())
		return
	case guard.Duration:
		fmt.Fprintf(b, "%s = %v\n", at, time.Duration(x))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			dump(b, at+"."+v.Type().Field(i).Name, v.Field(i))
		}
	case reflect.Slice:
		if v.IsNil() {
			fmt.Fprintf(b, "%s = nil\n", at)
			return
		}
		fmt.Fprintf(b, "%s = len %d\n", at, v.Len())
		for i := range v.Len() {
			dump(b, fmt.Sprintf("%s[%d]", at, i), v.Index(i))
		}
	case reflect.Map:
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		slices.Sort(keys)
		fmt.Fprintf(b, "%s = map of %d\n", at, len(keys))
		for _, k := range keys {
			dump(b, at+"["+k+"]", v.MapIndex(reflect.ValueOf(k)))
		}
	default:
		fmt.Fprintf(b, "%s = %q\n", at, fmt.Sprint(v.Interface()))
	}
}
