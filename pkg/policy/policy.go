// Package policy reads exportguard's policy file (DESIGN 3.5, YAML) into a
// guard.Policy: the default that ships in the binary, overridden key by key by
// the user's file, and checked so that a mistake is refused with the key named
// rather than silently allowing data out.
package policy

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/exportguard/exportguard/pkg/guard"
)

//go:embed default.yaml
var defaultYAML []byte

// MaxFileBytes bounds a policy file.
const MaxFileBytes = 1 << 20

// Default returns the policy that ships with the binary.
func Default() *guard.Policy {
	p, err := parse(&guard.Policy{}, defaultYAML)
	if err != nil {
		panic(fmt.Sprintf("policy: built-in default: %v", err)) // a build defect, not input
	}
	return p
}

// Load reads a policy file over the default. An empty path gives the default.
func Load(path string) (*guard.Policy, error) {
	if path == "" {
		return Default(), nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if fi.Size() > MaxFileBytes {
		return nil, fmt.Errorf("policy %s: %d bytes, more than the %d allowed", path, fi.Size(), MaxFileBytes)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p, err := Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return p, nil
}

// Parse reads policy YAML over the default.
func Parse(raw []byte) (*guard.Policy, error) {
	return parse(Default(), raw)
}

// file is the policy file's shape: every key optional, so that a key the file
// leaves out keeps the default.
type file struct {
	Cloud              *string                    `json:"cloud"`
	AllowedRegions     []string                   `json:"allowedRegions"`
	AllowedGeographies []string                   `json:"allowedGeographies"`
	Scope              *guard.Scope               `json:"scope"`
	Rules              map[string]json.RawMessage `json:"rules"`
	Roster             []string                   `json:"roster"`
	Exemptions         []guard.Exemption          `json:"exemptions"`
	Remediation        *guard.RemediationPolicy   `json:"remediation"`
	Notify             *guard.Notify              `json:"notify"`
}

func parse(base *guard.Policy, raw []byte) (*guard.Policy, error) {
	var f file
	if err := yaml.UnmarshalStrict(raw, &f); err != nil {
		return nil, fmt.Errorf("read YAML: %w", err)
	}
	p := *base
	p.Rules = map[string]guard.RulePolicy{}
	for k, v := range base.Rules {
		p.Rules[k] = v
	}
	if f.Cloud != nil {
		p.Cloud = *f.Cloud
	}
	if f.AllowedRegions != nil || f.AllowedGeographies != nil {
		p.AllowedRegions, p.AllowedGeographies = f.AllowedRegions, f.AllowedGeographies
	}
	if f.Scope != nil {
		p.Scope = *f.Scope
	}
	for id, raw := range f.Rules {
		if !slices.Contains(guard.RuleIDs, id) {
			return nil, fmt.Errorf("rules.%s: unknown rule (rules are %s)", id, strings.Join(guard.RuleIDs, ", "))
		}
		rp := p.Rules[id]
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rp); err != nil {
			return nil, fmt.Errorf("rules.%s: %w", id, err)
		}
		p.Rules[id] = rp
	}
	if f.Roster != nil {
		p.Roster = f.Roster
	}
	if f.Exemptions != nil {
		p.Exemptions = f.Exemptions
	}
	if f.Remediation != nil {
		p.Remediation = *f.Remediation
	}
	if f.Notify != nil {
		p.Notify = *f.Notify
	}
	if err := validate(&p); err != nil {
		return nil, err
	}
	return &p, nil
}

func validate(p *guard.Policy) error {
	if p.Cloud != "AzureCloud" && p.Cloud != "AzureUSGovernment" {
		return fmt.Errorf("cloud: %q is not AzureCloud or AzureUSGovernment", p.Cloud)
	}
	if len(p.AllowedRegions) == 0 && len(p.AllowedGeographies) == 0 {
		return fmt.Errorf("allowedRegions, allowedGeographies: at least one region or geography must be allowed")
	}
	for id, rp := range p.Rules {
		if rp.Mode != "" && !slices.Contains([]string{guard.ModeOff, guard.ModeAlert, guard.ModeRemediate}, rp.Mode) {
			return fmt.Errorf("rules.%s.mode: %q is not off, alert or remediate", id, rp.Mode)
		}
		if rp.Severity != "" && !slices.Contains([]string{"low", "medium", "high", "critical"}, rp.Severity) {
			return fmt.Errorf("rules.%s.severity: %q is not low, medium, high or critical", id, rp.Severity)
		}
	}
	if m := p.Remediation.Mode; !slices.Contains([]string{guard.RemediationOff, guard.RemediationDryRun, guard.RemediationApprove, guard.RemediationAuto}, m) {
		return fmt.Errorf("remediation.mode: %q is not off, dry-run, approve or auto", m)
	}
	for i, e := range p.Exemptions {
		if guard.SubscriptionOf(e.Resource) == "" {
			return fmt.Errorf("exemptions[%d].resource: %q is not a scope under /subscriptions/…", i, e.Resource)
		}
		for _, r := range e.Rules {
			if !slices.Contains(guard.RuleIDs, r) {
				return fmt.Errorf("exemptions[%d].rules: unknown rule %q", i, r)
			}
		}
	}
	return nil
}
