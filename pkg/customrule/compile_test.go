package customrule

import (
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
)

var knownTypes = []string{"microsoft.keyvault/vaults", "microsoft.sql/servers", "microsoft.storage/storageaccounts"}

func def(id, violation string, types ...string) guard.CustomRule {
	if len(types) == 0 {
		types = []string{guard.TypeStorageAccount}
	}
	return guard.CustomRule{ID: id, Types: types, Violation: violation, Message: "{{name}} is wrong.",
		Severity: "high", Mode: guard.ModeAlert, File: "policy.yaml", Index: 2, Line: 12, ViolationLine: 14}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		def  guard.CustomRule
		want []string
	}{
		{"undeclared", def("custom.a", "resourc.properties.x == true"),
			[]string{"policy.yaml:14: customRules[2] custom.a: violation: ERROR: <input>:1:1: undeclared reference to 'resourc'"}},
		{"syntax", def("custom.a", "resource.properties.x == "),
			[]string{"policy.yaml:14: customRules[2] custom.a: violation: ERROR: <input>:1:26: Syntax error"}},
		{"unknown function", def("custom.a", "resource.name.shout() == 'A'"),
			[]string{"policy.yaml:14: customRules[2] custom.a: violation:", "undeclared reference to 'shout'"}},
		{"dyn, not bool", def("custom.a", "resource.properties.allowBlobPublicAccess"),
			[]string{"policy.yaml:14: customRules[2] custom.a: violation: the expression is dyn, not bool"}},
		{"string, not bool", def("custom.a", "resource.name + '!'"),
			[]string{"violation: the expression is string, not bool"}},
		{"nested comprehensions", def("custom.a", "resource.properties.networkAcls.ipRules.exists(a, resource.properties.networkAcls.ipRules.exists(b, a.value != b.value && a.action == b.action))"),
			[]string{"policy.yaml:14: customRules[2] custom.a: violation: the expression may cost up to", "above the bound of 1000000"}},
		{"unknown type", def("custom.a", "true", "Microsoft.Storage/storageAcounts"),
			[]string{"policy.yaml:12: customRules[2] custom.a: types[0]: unknown type \"Microsoft.Storage/storageAcounts\" (did you mean microsoft.storage/storageaccounts?)"}},
		{"far type", def("custom.a", "true", "Contoso.Widgets/gadgets"),
			[]string{"types[0]: unknown type \"Contoso.Widgets/gadgets\": exportguard reads the types"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.def, knownTypes)
			if err == nil {
				t.Fatalf("New accepted %q: %v", tt.def.Violation, r)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error = %q\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestNewAccepts(t *testing.T) {
	for _, src := range []string{
		"resource.properties.?allowBlobPublicAccess.orValue(false) == true",
		"resource.?tags.?dataClassification.orValue('') == 'ITAR' && !(resource.location in ['usgovvirginia', 'usgovtexas'])",
		"resource.properties.networkAcls.ipRules.exists(r, r.value.startsWith('0.0.0.0'))", // one comprehension is within the bound
		"!(resource.location.lowerAscii() in policy.allowedRegions.map(r, r.lowerAscii()))",
		"previous != null && previous.properties.?x.orValue(1) != resource.properties.?x.orValue(1)",
		"now - timestamp(resource.properties.creationTime) > duration('24h')",
		"sets.contains(['a', 'b'], [resource.name]) && math.greatest(1, 2) == 2 && lists.range(3).size() == 3",
	} {
		if _, err := New(def("custom.a", src, "*"), knownTypes); err != nil {
			t.Errorf("New(%q): %v", src, err)
		}
	}
}

// Compile refuses the whole list, naming every rule that does not compile.
func TestCompileNamesEveryBadRule(t *testing.T) {
	a, b, c := def("custom.a", "resource.x =="), def("custom.b", "true"), def("custom.c", "1")
	a.Index, b.Index, c.Index = 0, 1, 2
	rs, err := Compile([]guard.CustomRule{a, b, c}, knownTypes)
	if err == nil {
		t.Fatalf("Compile accepted two bad rules: %v", rs)
	}
	for _, w := range []string{"customRules[0] custom.a: violation", "customRules[2] custom.c: violation: the expression is int, not bool"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error = %q\nwant it to contain %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "custom.b") {
		t.Errorf("error names custom.b, which compiles: %q", err)
	}
	rs, err = Compile([]guard.CustomRule{b}, knownTypes)
	if err != nil || len(rs) != 1 || rs[0].ID() != "custom.b" {
		t.Errorf("Compile(good) = %v, %v", rs, err)
	}
}
