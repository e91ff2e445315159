package customrule

import (
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
)

// A message split once renders as guard.RenderCustomMessage renders the
// template, for every kind of template (those it refuses included) and
// resource ID.
func TestMessageMatchesRender(t *testing.T) {
	templates := []string{
		"", "plain text", "{{name}}", "{{ name }} in {{resourceGroup}}.", "{{name}}{{id}}{{type}}", "{{location}}/{{subscriptionId}}/{{resourceGroup}}",
		"{{name}} does not violate custom.a.", "{{{name}}}", "{{name}}}}", "}} {{name}}", "{ {name}}",
		strings.Repeat("{{name}}-{{type}} ", 7), // more placeholders than render keeps on its stack
		"{{name", "{{nmae}} x", "{{}}", "a {{name}} {{", "{{name}} {{id}", "é {{name}} ✓",
	}
	resources := []*guard.Resource{
		{ID: "/subscriptions/b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/acct", Type: "Microsoft.Storage/storageAccounts", Location: "usgovvirginia"},
		{ID: "/subscriptions/s/ResourceGroups/RG/providers/Microsoft.Sql/servers/db/", Type: "Microsoft.Sql/servers"},
		{ID: "no-slashes"}, {ID: ""}, nil,
	}
	for _, tmpl := range templates {
		m := parseMessage(tmpl)
		for _, res := range resources {
			if got, want := m.render(res), guard.RenderCustomMessage(tmpl, res); got != want {
				t.Errorf("template %q on %+v renders %q, want %q", tmpl, res, got, want)
			}
		}
	}
}
