package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
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
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		if p.Cloud != "AzureCloud" && p.Cloud != "AzureUSGovernment" {
			t.Fatalf("accepted cloud %q", p.Cloud)
		}
		if len(p.AllowedRegions) == 0 && len(p.AllowedGeographies) == 0 {
			t.Fatal("accepted a policy that allows no region")
		}
	})
}
