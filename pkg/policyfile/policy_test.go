package policyfile

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/region"
)

func TestDefault(t *testing.T) {
	p := Default()
	if p.Cloud != "AzureCloud" || p.Remediation.Mode != guard.RemediationDryRun {
		t.Errorf("default cloud %q remediation %q, want AzureCloud dry-run", p.Cloud, p.Remediation.Mode)
	}
	for _, id := range guard.RuleIDs {
		if got := p.RuleMode(id); got != guard.ModeAlert {
			t.Errorf("default mode of %s = %q, want alert", id, got)
		}
	}
	if !p.RegionAllowed("eastus") || !p.RegionAllowed("West US 3") || p.RegionAllowed("westeurope") || p.RegionAllowed("usgovvirginia") {
		t.Error("default policy must allow the United States geography only")
	}
	if got := time.Duration(p.Rules[guard.RuleJITWindow].MaxDuration); got != 3*time.Hour {
		t.Errorf("default jit-window maxDuration = %v, want 3h", got)
	}
	if got := time.Duration(p.Rules[guard.RuleMonitoringActivityLog].Silence); got != 24*time.Hour {
		t.Errorf("default monitoring.activity-log silence = %v, want 24h", got)
	}
}

func TestParseOverridesKeyByKey(t *testing.T) {
	p, err := Parse([]byte(`
cloud: AzureUSGovernment
allowedRegions: [usgovvirginia, usgovtexas]
rules:
  access.jit-window: {maxDuration: PT2H}
  residency.replication: {mode: remediate}
exemptions:
  - resource: /subscriptions/0000/resourceGroups/rg-partner
    rules: [residency.location]
    expiresOn: 2027-06-30T00:00:00Z
    reason: licence D-1187
    approvedBy: export.officer@contoso.com
remediation: {mode: approve}
`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Cloud != "AzureUSGovernment" || len(p.AllowedGeographies) != 0 {
		t.Errorf("cloud %q geographies %v: allowedRegions must replace the default allowed set", p.Cloud, p.AllowedGeographies)
	}
	if !p.RegionAllowed("usgovtexas") || p.RegionAllowed("eastus") {
		t.Error("allowed set not taken from the file")
	}
	rp := p.Rules[guard.RuleResidencyReplication]
	if rp.Mode != guard.ModeRemediate || rp.Severity != "high" {
		t.Errorf("residency.replication = %+v, want mode remediate and the default severity high kept", rp)
	}
	if got := time.Duration(p.Rules[guard.RuleJITWindow].MaxDuration); got != 2*time.Hour {
		t.Errorf("jit-window maxDuration = %v, want 2h", got)
	}
	if p.RuleMode(guard.RuleTransitTLS) != guard.ModeAlert {
		t.Error("rules the file does not name must keep their default")
	}
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, ok := p.Exemption(guard.RuleResidencyLocation, "/subscriptions/0000/resourceGroups/RG-PARTNER/providers/x/y/z", now); !ok {
		t.Error("exemption must cover IDs below its scope, case-insensitively")
	}
	if _, ok := p.Exemption(guard.RuleResidencyLocation, "/subscriptions/0000/resourceGroups/rg-partners", now); ok {
		t.Error("exemption must cover whole path segments only")
	}
	if _, ok := p.Exemption(guard.RuleResidencyLocation, "/subscriptions/0000/resourceGroups/rg-partner", now.AddDate(1, 0, 0)); ok {
		t.Error("an expired exemption must cover nothing")
	}
}

func TestParseRefusesMistakes(t *testing.T) {
	tests := []struct{ yaml, wantKey string }{
		{"cloud: AzureChina", "cloud"},
		{"rules: {residency.everything: {mode: alert}}", "rules.residency.everything"},
		{"rules: {transit.tls: {mode: shout}}", "rules.transit.tls.mode"},
		{"rules: {transit.tls: {colour: red}}", "rules.transit.tls"},
		{"rules: {access.jit-window: {maxDuration: forever}}", "rules.access.jit-window"},
		{"remediation: {mode: yolo}", "remediation.mode"},
		{"allowedRegions: []\nallowedGeographies: []", "allowedRegions"},
		{"exemptions: [{resource: rg-a, rules: [transit.tls]}]", "exemptions[0].resource"},
		{"regions: [eastus]", "regions"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.wantKey) {
			t.Errorf("Parse(%q) error = %v, want one naming %s", tt.yaml, err, tt.wantKey)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(defaultYAML))
	f.Add([]byte("cloud: AzureUSGovernment\nallowedRegions: [usgovvirginia]\nrules: {access.jit-window: {maxDuration: PT3H}}"))
	f.Add([]byte("exemptions: [{resource: /subscriptions/s/resourceGroups/r, rules: [transit.tls], expiresOn: 2027-01-01T00:00:00Z}]"))
	f.Add([]byte("&a [*a, *a]"))
	f.Add([]byte(customRulesYAML))
	f.Add([]byte("customRules:\n  - {id: custom.a, types: [x], violation: 'resource.?x', message: '{{name}} {{', mode: remediate}\n  - {id: custom.a}\nrules: {custom.a: {mode: off}}"))
	f.Add([]byte("remediation: {mode: dry-run}\nremediation: {mode: auto}\n---\nallowedRegions: [eastuss]\n"))
	f.Add([]byte("base: &b {mode: auto}\nremediation: {<<: *b}\nallowedGeographies: [United Stats]\nrules: {access.jit-overstay: {grace: -5m}}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		for _, r := range p.AllowedRegions {
			if _, ok := region.Lookup(r); !ok {
				t.Fatalf("accepted unknown region %q", r)
			}
		}
		if p.Cloud != "AzureCloud" && p.Cloud != "AzureUSGovernment" {
			t.Fatalf("accepted cloud %q", p.Cloud)
		}
		if len(p.AllowedRegions) == 0 && len(p.AllowedGeographies) == 0 {
			t.Fatal("accepted a policy that allows no region")
		}
		for _, c := range p.CustomRules {
			if !guard.IsCustomRule(c.ID) || c.Violation == "" || len(c.Types) == 0 || guard.CheckCustomMessage(c.Message) != nil {
				t.Fatalf("accepted custom rule %+v", c)
			}
			if m := p.RuleMode(c.ID); m != guard.ModeOff && m != guard.ModeAlert {
				t.Fatalf("custom rule %s has mode %q", c.ID, m)
			}
		}
	})
}

func TestErrorsNameKeyAndLine(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"cloud: AzureCloud\nrules:\n  transit.tls:\n    mode: shout\n", "line 4: rules.transit.tls.mode"},
		{"cloud: AzureCloud\nrules:\n  access.jit-window:\n    maxDuration: forever\n", "line 4: rules.access.jit-window.maxDuration"},
		{"cloud: AzureCloud\n\nregions: [eastus]\n", "line 3: regions: unknown key"},
		{"exemptions:\n  - resource: /subscriptions/0000/resourceGroups/a\n    rules: [transit.tls]\n    expiresOn: 2027-01-01T00:00:00Z\n    reason: r\n    approvedBy: a@b.c\n  - resource: rg-b\n", "line 7: exemptions[1].resource"},
		{"scope:\n  subscriptions: [not-a-guid]\n", "line 2: scope.subscriptions[0]"},
		{"notify:\n  teams:\n    url: http://hooks.example/secret-token\n", "line 3: notify.teams.url"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error = %v, want one starting %q", tt.yaml, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret-token") {
			t.Errorf("error %q repeats a webhook URL", err)
		}
	}
}

func TestRoster(t *testing.T) {
	dir := t.TempDir()
	roster := "# screened 2026-10-01\n0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D\n\n1b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e  # bob\n"
	if err := os.WriteFile(filepath.Join(dir, "roster.txt"), []byte(roster), 0o600); err != nil {
		t.Fatal(err)
	}
	pf := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pf, []byte("roster: roster.txt\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Load(pf)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "1b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e"}
	if !slices.Equal(p.Roster, want) {
		t.Errorf("roster from file = %v, want %v", p.Roster, want)
	}
	p, err = Parse([]byte("roster: [0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D]"))
	if err != nil || !slices.Equal(p.Roster, want[:1]) {
		t.Errorf("roster list = %v (%v), want %v", p.Roster, err, want[:1])
	}
	if _, err := Parse([]byte("roster: [alice]")); err == nil || !strings.Contains(err.Error(), "roster[0]") {
		t.Errorf("a roster entry that is not an object ID must be refused naming it; got %v", err)
	}
}

func TestMarshalRoundTrips(t *testing.T) {
	p, err := Parse([]byte(`
cloud: AzureUSGovernment
allowedRegions: [usgovvirginia]
scope: {subscriptions: [b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80]}
rules:
  access.jit-window: {maxDuration: PT90M}
  access.jit-overstay: {grace: 2m}
roster: [0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d]
exemptions:
  - {resource: /subscriptions/b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80/resourceGroups/rg-a, rules: [transit.tls], expiresOn: "2027-06-30T00:00:00Z", reason: licence D-1187, approvedBy: officer@contoso.us}
notify: {teams: {url: "env:TEAMS_URL"}}
remediation: {mode: approve}
`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("the written policy does not read back: %v\n%s", err, out)
	}
	if diff := cmp.Diff(p, back); diff != "" {
		t.Errorf("round trip changed the policy (-before +after):\n%s\n%s", diff, out)
	}
}

func TestBareOffIsAMode(t *testing.T) {
	p, err := Parse([]byte("rules:\n  transit.tls: {mode: off}\nremediation:\n  mode: off\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.RuleMode(guard.RuleTransitTLS) != guard.ModeOff || p.Remediation.Mode != guard.RemediationOff {
		t.Errorf("rule mode %q, remediation mode %q; want off and off", p.RuleMode(guard.RuleTransitTLS), p.Remediation.Mode)
	}
}
