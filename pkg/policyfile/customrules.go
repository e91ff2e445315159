package policyfile

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/exportguard/exportguard/pkg/guard"
)

// customRuleName is what follows custom. in a custom rule's ID.
var customRuleName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// CustomRuleModes are the modes a custom rule may take: remediation stays with
// the built-in rules, whose fixes are written and tested one by one.
var CustomRuleModes = []string{guard.ModeOff, guard.ModeAlert}

// customRules reads the customRules list. Each entry's keys are checked here;
// its expression is compiled by package customrule when the policy is loaded
// for use (internal/cli's loadPolicy), since this package knows no CEL.
func customRules(n *yaml.Node, at []string) ([]guard.CustomRule, error) {
	items, err := list(n, at)
	if items == nil || err != nil {
		return nil, err
	}
	out := make([]guard.CustomRule, len(items))
	seen := map[string]int{}
	for i, item := range items {
		c := &out[i]
		c.Index, c.Line = i, item.Line
		here := appendPath(at, fmt.Sprintf("[%d]", i))
		if isNull(item) {
			return nil, keyErr("want a mapping of id, types, violation, message, severity, mode, not nothing", here...)
		}
		err := eachKey(item, here, func(name string, v *yaml.Node, at []string) error {
			switch name {
			case "id":
				return text(v, at, &c.ID)
			case "types":
				t, err := texts(v, at)
				c.Types = t
				return err
			case "violation":
				c.ViolationLine = deref(v).Line
				if s := deref(v).Style; s&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
					c.ViolationLine++ // the expression starts on the line after | or >
				}
				return text(v, at, &c.Violation)
			case "message":
				return text(v, at, &c.Message)
			case "severity", "mode":
				dst := map[string]*string{"severity": &c.Severity, "mode": &c.Mode}[name]
				if err := ruleText(v, name == "mode", dst); err != nil {
					return keyErr(err.Error(), at...)
				}
				return nil
			}
			return keyErr("unknown key (a custom rule takes id, types, violation, message, severity, mode)", at...)
		}, "id", "types", "violation", "message", "severity", "mode")
		if err != nil {
			return nil, err
		}
		if err := checkCustomRule(c, here); err != nil {
			return nil, err
		}
		if first, ok := seen[c.ID]; ok {
			return nil, keyErr(fmt.Sprintf("%s is defined twice (first as customRules[%d])", c.ID, first), appendPath(here, "id")...)
		}
		seen[c.ID] = i
	}
	return out, nil
}

// checkCustomRule checks one entry's keys and fills in the defaults (severity
// medium, mode alert).
func checkCustomRule(c *guard.CustomRule, at []string) error {
	name, ok := strings.CutPrefix(c.ID, guard.CustomRulePrefix)
	switch {
	case c.ID == "":
		return keyErr("a custom rule needs an id (custom.<name>)", at...)
	case slices.Contains(guard.RuleIDs, c.ID):
		return keyErr(fmt.Sprintf("%s is a built-in rule", c.ID), appendPath(at, "id")...)
	case !ok || !customRuleName.MatchString(name):
		return keyErr(fmt.Sprintf("%q is not custom.<name> (name: lower-case letters, digits and inner hyphens)", c.ID), appendPath(at, "id")...)
	}
	if len(c.Types) == 0 {
		return keyErr("a custom rule needs the resource types it judges (or [\"*\"] for every type)", appendPath(at, "types")...)
	}
	for i, t := range c.Types {
		switch {
		case strings.TrimSpace(t) == "":
			return keyErr("a type cannot be empty", appendPath(appendPath(at, "types"), fmt.Sprintf("[%d]", i))...)
		case t == guard.AnyType && len(c.Types) > 1:
			return keyErr(`"*" judges every type: give it alone`, appendPath(appendPath(at, "types"), fmt.Sprintf("[%d]", i))...)
		}
	}
	if strings.TrimSpace(c.Violation) == "" {
		return keyErr("a custom rule needs a violation expression (CEL, true when the resource violates the rule)", appendPath(at, "violation")...)
	}
	if strings.TrimSpace(c.Message) == "" {
		return keyErr("a custom rule needs a message (e.g. \"Storage account {{name}} allows public blob access.\")", appendPath(at, "message")...)
	}
	if err := guard.CheckCustomMessage(c.Message); err != nil {
		return keyErr(err.Error(), appendPath(at, "message")...)
	}
	if c.Severity == "" {
		c.Severity = "medium"
	}
	if !slices.Contains(Severities, c.Severity) {
		return keyErr(fmt.Sprintf("%q is not low, medium, high or critical", c.Severity), appendPath(at, "severity")...)
	}
	if c.Mode == "" {
		c.Mode = guard.ModeAlert
	}
	if c.Mode == guard.ModeRemediate {
		return keyErr("a custom rule may be off or alert: remediation stays with the built-in rules", appendPath(at, "mode")...)
	}
	if !slices.Contains(CustomRuleModes, c.Mode) {
		return keyErr(fmt.Sprintf("%q is not off or alert", c.Mode), appendPath(at, "mode")...)
	}
	return nil
}
