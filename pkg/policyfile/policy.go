// Package policyfile reads exportguard's policy file (DESIGN 3.5, YAML) into a
// guard.Policy: the default that ships in the binary, overridden key by key by
// the user's file, and checked so that a mistake is refused with its key and
// line named, rather than silently allowing data out.
package policyfile

import (
	"bytes"
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

	"go.yaml.in/yaml/v3"

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
	for i := range p.CustomRules {
		p.CustomRules[i].File = path // for compile errors (package customrule)
	}
	return p, nil
}

// Parse reads policy YAML over the default; a roster file name is read relative
// to the working directory.
func Parse(raw []byte) (*guard.Policy, error) {
	return parse(Default(), raw, ".")
}

// Marshal writes a policy as YAML that Parse reads back to the same policy: its
// JSON form (keys as the policy file names them, durations as Go writes them),
// keys sorted, lists not indented below their key.
func Marshal(p *guard.Policy) ([]byte, error) {
	// A custom rule's mode and severity are written in its customRules entry,
	// where Parse reads them, not under rules.
	q := *p
	q.Rules = map[string]guard.RulePolicy{}
	for id, rp := range p.Rules {
		if !guard.IsCustomRule(id) {
			q.Rules[id] = rp
		}
	}
	j, err := json.Marshal(&q)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(j, &v); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	enc.CompactSeqIndent()
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
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
	root, err := checkStructure(raw)
	if err != nil {
		return nil, err
	}
	f, err := decodeFile(root)
	if err != nil {
		return nil, err
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
	for _, r := range f.Rules {
		if guard.IsCustomRule(r.id) {
			return nil, keyErr("a custom rule's mode and severity are set in its customRules entry", "rules", r.id)
		}
		if !slices.Contains(guard.RuleIDs, r.id) {
			return nil, keyErr("unknown rule (rules are "+strings.Join(guard.RuleIDs, ", ")+")", "rules", r.id)
		}
		rp, err := mergeRule(p.Rules[r.id], r)
		if err != nil {
			return nil, err
		}
		p.Rules[r.id] = rp
	}
	if f.Roster != nil {
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
	if f.CustomRules != nil {
		setCustomRules(&p, f.CustomRules)
	}
	if err := validate(&p); err != nil {
		return nil, err
	}
	return &p, nil
}

// setCustomRules replaces the policy's custom rules (a file's list replaces
// the default's) and puts each one's mode and severity under Policy.Rules, so
// that everything asking the policy about a rule treats a custom ID as any
// other.
func setCustomRules(p *guard.Policy, defs []guard.CustomRule) {
	for id := range p.Rules {
		if guard.IsCustomRule(id) {
			delete(p.Rules, id)
		}
	}
	p.CustomRules = defs
	for _, c := range defs {
		p.Rules[c.ID] = guard.RulePolicy{Mode: c.Mode, Severity: c.Severity}
	}
}

// mergeRule applies one rule's keys over its current settings. The keys are
// matched as written (a rule takes mode, not Mode), and a value of the wrong
// kind is refused with the words the policy has always used for it.
func mergeRule(rp guard.RulePolicy, r ruleKeys) (guard.RulePolicy, error) {
	given := map[string]bool{}
	for _, kv := range r.keys {
		var err error
		switch kv.key {
		case "mode":
			err = ruleText(kv.val, r.offIsMode, &rp.Mode)
		case "severity":
			err = ruleText(kv.val, false, &rp.Severity)
		case "maxDuration":
			err = duration(kv.val, &rp.MaxDuration)
		case "grace":
			err = duration(kv.val, &rp.Grace)
		case "silence":
			err = duration(kv.val, &rp.Silence)
		default:
			return rp, keyErr("unknown key (a rule takes mode, severity, maxDuration, grace, silence)", "rules", r.id, kv.key)
		}
		if err != nil {
			return rp, keyErr(err.Error(), "rules", r.id, kv.key)
		}
		given[kv.key] = true
	}
	// A zero maxDuration makes every JIT request a finding and a negative one is
	// meaningless; DESIGN 3.5 refuses both, for every duration the file gives.
	for _, d := range []struct {
		key string
		val guard.Duration
	}{{"maxDuration", rp.MaxDuration}, {"grace", rp.Grace}, {"silence", rp.Silence}} {
		if given[d.key] && d.val <= 0 {
			return rp, keyErr(fmt.Sprintf("%s: a duration must be longer than zero", time.Duration(d.val)), "rules", r.id, d.key)
		}
	}
	return rp, nil
}

// ruleText reads a rule's mode or severity: text, or null to keep the setting.
// A bare off (no, n, false) is the mode off.
func ruleText(n *yaml.Node, mode bool, dst *string) error {
	n = deref(n)
	what := map[yaml.Kind]string{yaml.SequenceNode: "array", yaml.MappingNode: "object"}[n.Kind]
	if n.Kind == yaml.ScalarNode {
		switch s := resolve(n); {
		case s.kind == kindText:
			*dst = s.text
			return nil
		case s.kind == kindNull:
			return nil
		case s.kind == kindBool && s.text == "false" && mode:
			*dst = guard.ModeOff
			return nil
		case s.kind == kindBool:
			what = "bool"
		default:
			what = "number"
		}
	}
	return fmt.Errorf("cannot unmarshal %s into Go value of type string", what)
}

// duration reads a duration in Go or ISO 8601 form (guard.ParseDuration).
func duration(n *yaml.Node, dst *guard.Duration) error {
	n = deref(n)
	var s scalar
	if n.Kind == yaml.ScalarNode {
		s = resolve(n)
	}
	if n.Kind != yaml.ScalarNode || s.kind == kindBool || s.kind == kindNumber {
		return errors.New("duration must be a string like 3h or PT3H")
	}
	v, err := guard.ParseDuration(s.text) // null is "": an empty duration
	if err != nil {
		return err
	}
	*dst = guard.Duration(v)
	return nil
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
		if rp.Mode != "" && !slices.Contains(RuleModes, rp.Mode) {
			return keyErr(fmt.Sprintf("%q is not off, alert or remediate", rp.Mode), "rules", id, "mode")
		}
		if rp.Severity != "" && !slices.Contains(Severities, rp.Severity) {
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
			if _, custom := p.CustomRule(r); !custom && !slices.Contains(guard.RuleIDs, r) {
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
