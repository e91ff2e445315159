package guard

import (
	"fmt"
	"slices"
	"strings"
)

// CustomRulePrefix starts every custom rule's ID (custom.<name>), so that a
// custom rule can never take a built-in rule's ID.
const CustomRulePrefix = "custom."

// AnyType in a custom rule's Types makes it judge every resource type.
const AnyType = "*"

// CustomRule is a rule a policy file defines (customRules, DESIGN 3.5): plain
// data, as the file gives it. Package customrule compiles it into a Rule; guard
// itself knows nothing of the expression language. Its mode and severity are
// also in Policy.Rules under its ID, so that everything that asks a policy
// about a rule (RuleMode, Severity, exemptions) treats it as any other.
type CustomRule struct {
	ID        string   `json:"id"`
	Types     []string `json:"types"`
	Violation string   `json:"violation"` // a CEL expression: true when the resource violates the rule
	Message   string   `json:"message"`   // a template: {{name}}, {{id}}, {{type}}, {{location}}, {{resourceGroup}}, {{subscriptionId}}
	Severity  string   `json:"severity,omitempty"`
	Mode      string   `json:"mode,omitempty"`
	// Where the entry and its violation are in the policy file, for errors
	// (0 when not from a file).
	File          string `json:"-"`
	Index         int    `json:"-"` // its place in customRules
	Line          int    `json:"-"`
	ViolationLine int    `json:"-"`
}

// IsCustomRule reports whether a rule ID names a custom rule.
func IsCustomRule(id string) bool { return strings.HasPrefix(id, CustomRulePrefix) }

// CustomRule returns the custom rule the policy defines with this ID.
func (p *Policy) CustomRule(id string) (CustomRule, bool) {
	for _, c := range p.CustomRules {
		if c.ID == id {
			return c, true
		}
	}
	return CustomRule{}, false
}

// CustomMessageFields are the placeholders a custom rule's message may name,
// each written {{name}}.
var CustomMessageFields = []string{"name", "id", "type", "location", "resourceGroup", "subscriptionId"}

// CheckCustomMessage refuses a message template with an unclosed or unknown
// placeholder: a typo would otherwise reach every finding's text.
func CheckCustomMessage(tmpl string) error {
	_, err := expandMessage(tmpl, func(string) string { return "" })
	return err
}

// RenderCustomMessage fills a message template's placeholders from the
// resource; a template CheckCustomMessage refuses is returned as written.
func RenderCustomMessage(tmpl string, res *Resource) string {
	s, err := expandMessage(tmpl, func(field string) string { return messageField(field, res) })
	if err != nil {
		return tmpl
	}
	return s
}

func expandMessage(tmpl string, value func(string) string) (string, error) {
	var b strings.Builder
	rest := tmpl
	for range len(tmpl) + 1 { // each round consumes a placeholder: bounded by the template's length
		open := strings.Index(rest, "{{")
		if open < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		b.WriteString(rest[:open])
		end := strings.Index(rest[open:], "}}")
		if end < 0 {
			return "", fmt.Errorf("a placeholder opened with {{ is not closed with }}")
		}
		field := strings.TrimSpace(rest[open+2 : open+end])
		if !slices.Contains(CustomMessageFields, field) {
			return "", fmt.Errorf("unknown placeholder {{%s}} (a message may name {{%s}})", field, strings.Join(CustomMessageFields, "}}, {{"))
		}
		b.WriteString(value(field))
		rest = rest[open+end+2:]
	}
	return b.String(), nil
}

// CustomMessageField is what the placeholder {{field}} of a custom rule's
// message stands for on res (package customrule renders its messages from a
// template split once, not on every verdict).
func CustomMessageField(field string, res *Resource) string { return messageField(field, res) }

func messageField(field string, res *Resource) string {
	if res == nil {
		return ""
	}
	switch field {
	case "name":
		id := strings.TrimRight(res.ID, "/")
		return id[strings.LastIndex(id, "/")+1:]
	case "id":
		return res.ID
	case "type":
		return res.Type
	case "location":
		return res.Location
	case "resourceGroup":
		return segmentAfter(res.ID, "resourceGroups")
	case "subscriptionId":
		return SubscriptionOf(res.ID)
	}
	return ""
}

// segmentAfter returns the path segment after the first one named key
// (compared without case), or "".
func segmentAfter(id, key string) string {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], key) {
			return parts[i+1]
		}
	}
	return ""
}
