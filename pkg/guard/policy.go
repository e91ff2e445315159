package guard

import (
	"strings"
	"time"

	"github.com/exportguard/exportguard/pkg/region"
)

// Rule modes.
const (
	ModeOff       = "off"
	ModeAlert     = "alert"
	ModeRemediate = "remediate"
)

// Remediation modes.
const (
	RemediationOff     = "off"
	RemediationDryRun  = "dry-run"
	RemediationApprove = "approve"
	RemediationAuto    = "auto"
)

// Policy is what the organisation allows (DESIGN 3.5). Package policyfile reads
// it from YAML; the zero value allows nothing and judges nothing.
type Policy struct {
	Cloud              string                `json:"cloud"`
	AllowedRegions     []string              `json:"allowedRegions,omitempty"`
	AllowedGeographies []string              `json:"allowedGeographies,omitempty"`
	Scope              Scope                 `json:"scope,omitempty"`
	Rules              map[string]RulePolicy `json:"rules,omitempty"`
	Roster             []string              `json:"roster,omitempty"`
	Exemptions         []Exemption           `json:"exemptions,omitempty"`
	Remediation        RemediationPolicy     `json:"remediation,omitempty"`
	Notify             Notify                `json:"notify,omitempty"`
	CustomRules        []CustomRule          `json:"customRules,omitempty"` // customrule.go
}

// Scope limits what exportguard looks at and touches.
type Scope struct {
	Subscriptions []string `json:"subscriptions,omitempty"`
}

// RulePolicy configures one rule.
type RulePolicy struct {
	Mode        string   `json:"mode,omitempty"`
	Severity    string   `json:"severity,omitempty"`
	MaxDuration Duration `json:"maxDuration,omitempty"`
	Grace       Duration `json:"grace,omitempty"`
	Silence     Duration `json:"silence,omitempty"` // monitoring.activity-log: how long a subscription in scope may send nothing
}

// Exemption suspends rules for a scope until it expires.
type Exemption struct {
	Resource   string    `json:"resource"`
	Rules      []string  `json:"rules,omitempty"`
	ExpiresOn  time.Time `json:"expiresOn"`
	Reason     string    `json:"reason"`
	ApprovedBy string    `json:"approvedBy"`
}

// RemediationPolicy says how far remediation may go.
type RemediationPolicy struct {
	Mode string `json:"mode,omitempty"`
}

// Notify holds the notification targets. URLs are secrets: they may be written as
// env:NAME and are never logged.
type Notify struct {
	Teams   Target `json:"teams,omitempty"`
	Slack   Target `json:"slack,omitempty"`
	Webhook Target `json:"webhook,omitempty"`
}

// Target is one notification endpoint.
type Target struct {
	URL string `json:"url,omitempty"`
}

// Duration is a time.Duration; package policyfile parses it from Go or ISO 8601 text.
type Duration time.Duration

// RegionAllowed reports whether data may live in the region (a programmatic name
// or a display name): the region is in allowedRegions, or its geography is in
// allowedGeographies. An unknown region is allowed only by allowedRegions.
func (p *Policy) RegionAllowed(name string) bool {
	n := region.Normalize(name)
	if n == "" {
		return false
	}
	for _, r := range p.AllowedRegions {
		if region.Normalize(r) == n {
			return true
		}
	}
	reg, ok := region.Lookup(n)
	if !ok {
		return false
	}
	for _, g := range p.AllowedGeographies {
		if strings.EqualFold(strings.TrimSpace(g), reg.Geography) {
			return true
		}
	}
	return false
}

// AllowedSummary describes the allowed set for messages and evidence.
func (p *Policy) AllowedSummary() string {
	var parts []string
	if len(p.AllowedRegions) > 0 {
		parts = append(parts, "regions "+strings.Join(p.AllowedRegions, ", "))
	}
	if len(p.AllowedGeographies) > 0 {
		parts = append(parts, "geographies "+strings.Join(p.AllowedGeographies, ", "))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "; ")
}

// RuleMode returns the mode of a rule (off, alert or remediate); a rule the policy
// does not name is off.
func (p *Policy) RuleMode(rule string) string {
	if m := p.Rules[rule].Mode; m != "" {
		return m
	}
	return ModeOff
}

// Severity returns the severity of a rule's findings, "high" unless set.
func (p *Policy) Severity(rule string) string {
	if s := p.Rules[rule].Severity; s != "" {
		return s
	}
	return "high"
}

// InScope reports whether exportguard may look at and act on a subscription.
// With no subscriptions listed, every subscription is in scope.
func (p *Policy) InScope(subscriptionID string) bool {
	if len(p.Scope.Subscriptions) == 0 {
		return true
	}
	for _, s := range p.Scope.Subscriptions {
		if strings.EqualFold(strings.TrimSpace(s), subscriptionID) {
			return true
		}
	}
	return false
}

// Exemption returns the exemption that covers rule on resourceID at now, if any.
func (p *Policy) Exemption(rule, resourceID string, now time.Time) (Exemption, bool) {
	for _, e := range p.Exemptions {
		if !e.ExpiresOn.IsZero() && !now.Before(e.ExpiresOn) {
			continue
		}
		if !WithinScope(resourceID, e.Resource) {
			continue
		}
		if len(e.Rules) == 0 {
			return e, true
		}
		for _, r := range e.Rules {
			if r == rule {
				return e, true
			}
		}
	}
	return Exemption{}, false
}
