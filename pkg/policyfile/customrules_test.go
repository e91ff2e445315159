package policyfile

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/exportguard/exportguard/pkg/guard"
)

const customRulesYAML = `
allowedGeographies: [United States]
customRules:
  - id: custom.storage-public-blob
    types: [Microsoft.Storage/storageAccounts]
    violation: resource.properties.?allowBlobPublicAccess.orValue(false) == true
    message: "Storage account {{name}} allows public blob access."
    severity: high
  - id: custom.itar-usgov-region
    types: ["*"]
    violation: |
      resource.?tags.?dataClassification.orValue('') == 'ITAR' &&
      !(resource.location in ['usgovvirginia', 'usgovtexas'])
    message: "{{name}} in {{resourceGroup}} is ITAR data outside US Gov regions ({{location}})."
    mode: off
exemptions:
  - resource: /subscriptions/b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80/resourceGroups/rg-public
    rules: [custom.storage-public-blob]
    expiresOn: 2027-06-30T00:00:00Z
    reason: public docs site
    approvedBy: officer@contoso.us
`

func TestCustomRulesParse(t *testing.T) {
	p, err := Parse([]byte(customRulesYAML))
	if err != nil {
		t.Fatal(err)
	}
	want := []guard.CustomRule{
		{ID: "custom.storage-public-blob", Types: []string{guard.TypeStorageAccount},
			Violation: "resource.properties.?allowBlobPublicAccess.orValue(false) == true",
			Message:   "Storage account {{name}} allows public blob access.", Severity: "high", Mode: guard.ModeAlert,
			Line: 4, ViolationLine: 6},
		{ID: "custom.itar-usgov-region", Types: []string{"*"},
			Violation: "resource.?tags.?dataClassification.orValue('') == 'ITAR' &&\n!(resource.location in ['usgovvirginia', 'usgovtexas'])\n",
			Message:   "{{name}} in {{resourceGroup}} is ITAR data outside US Gov regions ({{location}}).", Severity: "medium", Mode: guard.ModeOff,
			Index: 1, Line: 9, ViolationLine: 12},
	}
	if diff := cmp.Diff(want, p.CustomRules); diff != "" {
		t.Errorf("custom rules (-want +got):\n%s", diff)
	}
	// Mode and severity reach Policy.Rules, where everything else asks.
	if p.RuleMode("custom.storage-public-blob") != guard.ModeAlert || p.Severity("custom.storage-public-blob") != "high" ||
		p.RuleMode("custom.itar-usgov-region") != guard.ModeOff || p.Severity("custom.itar-usgov-region") != "medium" {
		t.Errorf("Policy.Rules = %v: want the custom rules' modes and severities", p.Rules)
	}
	if p.RuleMode(guard.RuleTransitTLS) != guard.ModeAlert {
		t.Error("the default's built-in rules must stay")
	}
	if len(Default().CustomRules) != 0 {
		t.Error("the default policy has no custom rules")
	}
}

func TestCustomRulesRefused(t *testing.T) {
	entry := func(kv string) string {
		return "customRules:\n  - id: custom.a\n    types: [Microsoft.Sql/servers]\n    violation: 'true'\n    message: m\n" + kv
	}
	tests := []struct{ name, yaml, want string }{
		{"unknown key", entry("    remediate: true\n"), "line 6: customRules[0].remediate: unknown key"},
		{"key twice", entry("    violation: 'false'\n"), "line 6: customRules[0].violation: key given twice (first on line 4)"},
		{"remediate", entry("    mode: remediate\n"), "line 6: customRules[0].mode: a custom rule may be off or alert"},
		{"mode typo", entry("    mode: alret\n"), "line 6: customRules[0].mode: \"alret\" is not off or alert"},
		{"severity", entry("    severity: urgent\n"), "line 6: customRules[0].severity: \"urgent\" is not low, medium, high or critical"},
		{"not custom.", "customRules:\n  - id: storage-public\n    types: [x]\n    violation: 'true'\n    message: m\n", "line 2: customRules[0].id: \"storage-public\" is not custom.<name>"},
		{"upper case", "customRules:\n  - id: custom.Public\n    types: [x]\n    violation: 'true'\n    message: m\n", "customRules[0].id: \"custom.Public\" is not custom.<name>"},
		{"built-in", "customRules:\n  - id: transit.tls\n    types: [x]\n    violation: 'true'\n    message: m\n", "customRules[0].id: transit.tls is a built-in rule"},
		{"no id", "customRules:\n  - types: [x]\n    violation: 'true'\n    message: m\n", "line 2: customRules[0]: a custom rule needs an id"},
		{"no types", "customRules:\n  - id: custom.a\n    types: []\n    violation: 'true'\n    message: m\n", "line 3: customRules[0].types: a custom rule needs the resource types"},
		{"star and more", "customRules:\n  - id: custom.a\n    types: ['*', x]\n    violation: 'true'\n    message: m\n", "customRules[0].types[0]: \"*\" judges every type"},
		{"no violation", "customRules:\n  - id: custom.a\n    types: [x]\n    message: m\n", "customRules[0].violation: a custom rule needs a violation"},
		{"no message", "customRules:\n  - id: custom.a\n    types: [x]\n    violation: 'true'\n", "customRules[0].message: a custom rule needs a message"},
		{"placeholder", "customRules:\n  - id: custom.a\n    types: [x]\n    violation: 'true'\n    message: '{{nmae}} is public'\n", "line 5: customRules[0].message: unknown placeholder {{nmae}}"},
		{"unclosed", "customRules:\n  - id: custom.a\n    types: [x]\n    violation: 'true'\n    message: '{{name is public'\n", "customRules[0].message: a placeholder opened with {{ is not closed"},
		{"defined twice", "customRules:\n  - {id: custom.a, types: [x], violation: 'true', message: m}\n  - {id: custom.a, types: [y], violation: 'true', message: m}\n", "line 3: customRules[1].id: custom.a is defined twice (first as customRules[0])"},
		{"not a list", "customRules: {id: custom.a}\n", "customRules: want a list"},
		{"null entry", "customRules:\n  -\n", "customRules[0]: want a mapping"},
		{"under rules", "rules:\n  custom.a: {mode: off}\n", "line 2: rules.custom.a: a custom rule's mode and severity are set in its customRules entry"},
		{"exemption names undefined custom", "exemptions:\n  - {resource: /subscriptions/0000/resourceGroups/a, rules: [custom.nope], expiresOn: 2027-01-01T00:00:00Z, reason: r, approvedBy: a@b.c}\n", "line 2: exemptions[0].rules: unknown rule \"custom.nope\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestCustomRulesRoundTrip(t *testing.T) {
	p, err := Parse([]byte(customRulesYAML))
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
	// Where an entry sits in the file is not part of the policy.
	if diff := cmp.Diff(p, back, cmpopts.IgnoreFields(guard.CustomRule{}, "Index", "Line", "ViolationLine")); diff != "" {
		t.Errorf("round trip changed the policy (-before +after):\n%s\n%s", diff, out)
	}
	if strings.Contains(string(out), "rules:\n  custom.") {
		t.Errorf("a custom rule's mode is written under rules, which Parse refuses:\n%s", out)
	}
}

// A file's customRules replace the default's; customRules: [] leaves none.
func TestCustomRulesReplace(t *testing.T) {
	base, err := Parse([]byte(customRulesYAML))
	if err != nil {
		t.Fatal(err)
	}
	// The exemption names a custom rule the new list no longer defines.
	if _, err := parse(base, []byte("customRules: []\n"), "."); err == nil || !strings.Contains(err.Error(), `unknown rule "custom.storage-public-blob"`) {
		t.Errorf("an exemption naming a custom rule no longer defined: error = %v", err)
	}
	base.Exemptions = nil
	p, err := parse(base, []byte("customRules: []\n"), ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.CustomRules) != 0 || p.RuleMode("custom.storage-public-blob") != guard.ModeOff {
		t.Errorf("customRules: [] kept %v (rules %v)", p.CustomRules, p.Rules)
	}
	p, err = parse(base, []byte("cloud: AzureCloud\n"), ".")
	if err != nil || len(p.CustomRules) != 2 {
		t.Errorf("a file without customRules must keep the base's: %v %v", p, err)
	}
}
