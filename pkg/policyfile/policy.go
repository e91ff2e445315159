// Package policyfile reads exportguard's policy file (DESIGN 3.5, YAML) into a
// guard.Policy: the default that ships in the binary, overridden key by key by
// the user's file, and checked so that a mistake is refused with its key and
// line named, rather than silently allowing data out.
package policyfile

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/region"
)

//go:embed default.yaml
var defaultYAML []byte

// MaxFileBytes bounds a policy file and a roster file.
const MaxFileBytes = 1 << 20

// Default returns the policy that ships with the binary.
func Default() *guard.Policy {
	p, err := parse(&guard.Policy{}, defaultYAML, "")
	if err != nil {
		panic(fmt.Sprintf("policy: built-in default: %v", err)) // a build defect, not input
	}
	return p
}

// Load reads a policy file over the default. An empty path gives the default.
// A roster given as a file name is read relative to the policy file.
func Load(path string) (*guard.Policy, error) {
	if path == "" {
		return Default(), nil
	}
	raw, err := readLimited(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p, err := parse(Default(), raw, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return p, nil
}

// Parse reads policy YAML over the default; a roster file name is read relative
// to the working directory.
func Parse(raw []byte) (*guard.Policy, error) {
	return parse(Default(), raw, ".")
}

// Marshal writes a policy as YAML that Parse reads back to the same policy.
func Marshal(p *guard.Policy) ([]byte, error) {
	j, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(j)
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, MaxFileBytes)
	}
	return b, nil
}

// file is the policy file's shape: every key optional, so that a key the file
// leaves out keeps the default.
type file struct {
	Cloud              *string                               `json:"cloud"`
	AllowedRegions     []string                              `json:"allowedRegions"`
	AllowedGeographies []string                              `json:"allowedGeographies"`
	Scope              *guard.Scope                          `json:"scope"`
	Rules              map[string]map[string]json.RawMessage `json:"rules"`
	Roster             json.RawMessage                       `json:"roster"`
	Exemptions         []guard.Exemption                     `json:"exemptions"`
	Remediation        *guard.RemediationPolicy              `json:"remediation"`
	Notify             *guard.Notify                         `json:"notify"`
}

func parse(base *guard.Policy, raw []byte, dir string) (*guard.Policy, error) {
	p, err := merge(base, raw, dir)
	if err != nil {
		var ke *KeyError
		if errors.As(err, &ke) && ke.Line == 0 {
			locate(raw, ke)
		}
		return nil, err
	}
	return p, nil
}

func merge(base *guard.Policy, raw []byte, dir string) (*guard.Policy, error) {
	if err := checkStructure(raw); err != nil {
		return nil, err
	}
	var f file
	if err := yaml.UnmarshalStrict(offAsText(raw), &f); err != nil {
		return nil, yamlError(raw, err)
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
	for id, fields := range f.Rules {
		if !slices.Contains(guard.RuleIDs, id) {
			return nil, keyErr("unknown rule (rules are "+strings.Join(guard.RuleIDs, ", ")+")", "rules", id)
		}
		rp, err := mergeRule(p.Rules[id], id, fields)
		if err != nil {
			return nil, err
		}
		p.Rules[id] = rp
	}
	if len(f.Roster) > 0 && string(f.Roster) != "null" {
		roster, err := readRoster(f.Roster, dir)
		if err != nil {
			return nil, err
		}
		p.Roster = roster
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

// mergeRule applies one rule's keys over its current settings.
func mergeRule(rp guard.RulePolicy, id string, fields map[string]json.RawMessage) (guard.RulePolicy, error) {
	for k, v := range fields {
		var err error
		switch k {
		case "mode":
			err = json.Unmarshal(v, &rp.Mode)
		case "severity":
			err = json.Unmarshal(v, &rp.Severity)
		case "maxDuration":
			err = json.Unmarshal(v, &rp.MaxDuration)
		case "grace":
			err = json.Unmarshal(v, &rp.Grace)
		case "silence":
			err = json.Unmarshal(v, &rp.Silence)
		default:
			return rp, keyErr("unknown key (a rule takes mode, severity, maxDuration, grace, silence)", "rules", id, k)
		}
		if err != nil {
			return rp, keyErr(strings.TrimPrefix(err.Error(), "json: "), "rules", id, k)
		}
	}
	// A zero maxDuration makes every JIT request a finding and a negative one is
	// meaningless; DESIGN 3.5 refuses both, for every duration the file gives.
	for _, d := range []struct {
		key string
		val guard.Duration
	}{{"maxDuration", rp.MaxDuration}, {"grace", rp.Grace}, {"silence", rp.Silence}} {
		if _, given := fields[d.key]; given && d.val <= 0 {
			return rp, keyErr(fmt.Sprintf("%s: a duration must be longer than zero", time.Duration(d.val)), "rules", id, d.key)
		}
	}
	return rp, nil
}

func validate(p *guard.Policy) error {
	if p.Cloud != "AzureCloud" && p.Cloud != "AzureUSGovernment" {
		return keyErr(fmt.Sprintf("%q is not AzureCloud or AzureUSGovernment", p.Cloud), "cloud")
	}
	if len(p.AllowedRegions) == 0 && len(p.AllowedGeographies) == 0 {
		return keyErr("at least one region (allowedRegions) or geography (allowedGeographies) must be allowed", "allowedRegions")
	}
	if err := validateRegions(p); err != nil {
		return err
	}
	for i, s := range p.Scope.Subscriptions {
		if !isGUID(s) {
			return keyErr(fmt.Sprintf("%q is not a subscription ID", s), "scope", "subscriptions", fmt.Sprintf("[%d]", i))
		}
	}
	ids := make([]string, 0, len(p.Rules))
	for id := range p.Rules {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		rp := p.Rules[id]
		if rp.Mode != "" && !slices.Contains([]string{guard.ModeOff, guard.ModeAlert, guard.ModeRemediate}, rp.Mode) {
			return keyErr(fmt.Sprintf("%q is not off, alert or remediate", rp.Mode), "rules", id, "mode")
		}
		if rp.Severity != "" && !slices.Contains([]string{"low", "medium", "high", "critical"}, rp.Severity) {
			return keyErr(fmt.Sprintf("%q is not low, medium, high or critical", rp.Severity), "rules", id, "severity")
		}
	}
	if m := p.Remediation.Mode; !slices.Contains([]string{guard.RemediationOff, guard.RemediationDryRun, guard.RemediationApprove, guard.RemediationAuto}, m) {
		return keyErr(fmt.Sprintf("%q is not off, dry-run, approve or auto", m), "remediation", "mode")
	}
	for i, e := range p.Exemptions {
		at := fmt.Sprintf("[%d]", i)
		if guard.SubscriptionOf(e.Resource) == "" {
			return keyErr(fmt.Sprintf("%q is not a scope under /subscriptions/…", e.Resource), "exemptions", at, "resource")
		}
		for _, r := range e.Rules {
			if !slices.Contains(guard.RuleIDs, r) {
				return keyErr(fmt.Sprintf("unknown rule %q", r), "exemptions", at, "rules")
			}
		}
		if e.ExpiresOn.IsZero() {
			return keyErr("an exemption needs an expiry (RFC 3339)", "exemptions", at, "expiresOn")
		}
		if strings.TrimSpace(e.Reason) == "" || strings.TrimSpace(e.ApprovedBy) == "" {
			return keyErr("an exemption needs a reason and who approved it", "exemptions", at)
		}
	}
	for _, t := range []struct {
		name string
		url  string
	}{{"teams", p.Notify.Teams.URL}, {"slack", p.Notify.Slack.URL}, {"webhook", p.Notify.Webhook.URL}} {
		if t.url != "" && !strings.HasPrefix(t.url, "env:") && !strings.HasPrefix(t.url, "https://") {
			// The URL itself is a secret: never repeat it in an error.
			return keyErr("must be https://… or env:NAME", "notify", t.name, "url")
		}
	}
	return nil
}

// validateRegions refuses a region or geography pkg/region does not know: a
// misspelt allowed region allows nothing, and then every resource in the region
// meant is a finding (or, in a geography list, the whole geography is lost).
func validateRegions(p *guard.Policy) error {
	for i, r := range p.AllowedRegions {
		if _, ok := region.Lookup(r); !ok {
			return keyErr(unknownName("region", r, region.Suggest(r)), "allowedRegions", fmt.Sprintf("[%d]", i))
		}
	}
	for i, g := range p.AllowedGeographies {
		if _, ok := region.Geography(g); !ok {
			return keyErr(unknownName("geography", g, region.SuggestGeography(g)), "allowedGeographies", fmt.Sprintf("[%d]", i))
		}
	}
	return nil
}

func unknownName(kind, name, suggestion string) string {
	if suggestion != "" {
		return fmt.Sprintf("unknown %s %q (did you mean %s?)", kind, name, suggestion)
	}
	return fmt.Sprintf("unknown %s %q: no Azure %s has this name (az account list-locations lists them)", kind, name, kind)
}

// isGUID reports whether s looks like an Azure GUID (subscription, object ID).
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", c):
			return false
		}
	}
	return true
}

// offAsText reads a bare `mode: off` as the word it is meant to be: YAML 1.1
// (which the YAML library follows) reads off as false, and "off" is a mode
// (DESIGN 3.5). Input that is not a YAML mapping is returned as it is.
func offAsText(raw []byte) []byte {
	j, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return raw
	}
	var doc map[string]any
	if json.Unmarshal(j, &doc) != nil {
		return raw
	}
	fix := func(m any) {
		if mm, ok := m.(map[string]any); ok && mm["mode"] == false {
			mm["mode"] = guard.ModeOff
		}
	}
	if rules, ok := doc["rules"].(map[string]any); ok {
		for _, r := range rules {
			fix(r)
		}
	}
	fix(doc["remediation"])
	out, err := json.Marshal(doc)
	if err != nil {
		return raw
	}
	return out // JSON is YAML: the strict decode reads it the same way
}
