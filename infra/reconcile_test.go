package infra

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// deployedFunctions is every function infra/ knows it deploys (make package
// copies functions/* into the zip), by trigger: each trigger needs something
// of the deployment, checked below. reconcile (issue 16) is the daily Resource
// Graph reconcile; its folder comes with the reconcile code.
var deployedFunctions = map[string]string{
	"activitylog":    "eventHubTrigger",
	"resourceevents": "eventGridTrigger",
	"sweep":          "timerTrigger",
	"reconcile":      "timerTrigger",
	"health":         "httpTrigger",
	"api":            "httpTrigger",
	"dashboard":      "httpTrigger",
	"eventgrid":      "httpTrigger",
}

// triggerOf reads a function folder's trigger binding.
func triggerOf(t *testing.T, dir string) (typ, schedule string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "function.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fj struct {
		Bindings []struct{ Type, Direction, Schedule string }
	}
	if err := json.Unmarshal(raw, &fj); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	for _, b := range fj.Bindings {
		if strings.HasSuffix(b.Type, "Trigger") {
			return b.Type, b.Schedule
		}
	}
	t.Fatalf("%s has no trigger", dir)
	return "", ""
}

// Every function folder is one infra/ knows, with the trigger it expects, and
// infra/ gives each trigger what it needs: timers (sweep, reconcile) run with
// Always On and hold their leases in host storage, the Event Grid function has
// event subscriptions, the Event Hubs one its connection. A new function fails
// here until infra/ has been thought about for it.
func TestEveryFunctionIsDeployed(t *testing.T) {
	c := load(t)
	dirs, err := filepath.Glob("../functions/*/function.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no functions (%v)", err)
	}
	ncrontab := regexp.MustCompile(`^(\S+\s+){5}\S+$`) // six fields, seconds first
	onDisk := map[string]bool{}
	for _, d := range dirs {
		dir := filepath.Dir(d)
		name := filepath.Base(dir)
		onDisk[name] = true
		want, ok := deployedFunctions[name]
		if !ok {
			t.Errorf("functions/%s is not known to infra/: add it to deployedFunctions once the deployment serves its trigger", name)
			continue
		}
		typ, schedule := triggerOf(t, dir)
		if typ != want {
			t.Errorf("functions/%s is a %s, infra/ expects a %s", name, typ, want)
		}
		if typ == "timerTrigger" && !ncrontab.MatchString(schedule) {
			t.Errorf("functions/%s: schedule %q is not a six-field NCRONTAB expression", name, schedule)
		}
	}
	if !onDisk["reconcile"] {
		t.Log("functions/reconcile is not here yet: it comes with the reconcile code (issue 16)")
	}

	fa := c.resource(t, "azurerm_linux_function_app.this")
	grants, _ := c.grants(t)
	readme := string(src(t, c, "README.md"))
	for name, typ := range deployedFunctions {
		if !strings.Contains(readme, "`"+name+"`") {
			t.Errorf("infra/README.md does not mention the %s function", name)
		}
		switch typ {
		case "timerTrigger":
			// A timer on a dedicated plan fires only with Always On, and takes
			// its singleton lease in host storage's blobs.
			if b, ok := literalBool(attr(t, fa, "site_config.always_on")); !ok || !b {
				t.Errorf("%s: always_on is off, the timer would not fire", name)
			}
			b, ok := grants[roleGrant{"azurerm_role_assignment.host_storage", "Storage Blob Data Owner"}]
			if !ok || !c.refersTo(attr(t, b, "scope"), "azurerm_storage_account.host.id") {
				t.Errorf("%s: the identity cannot take the timer's lease in host storage", name)
			}
		case "eventGridTrigger":
			// Both the subscription's topic and the Key Vault topics deliver here.
			tmpl, ok := c.locals["resourceevents_function_id"].Expr.(*hclsyntax.TemplateExpr)
			if !ok || literalString(tmpl.Parts[len(tmpl.Parts)-1]) != "/functions/"+name {
				t.Errorf("%s: no event subscription delivers to it", name)
			}
		case "eventHubTrigger":
			settings := c.objectItems(t, attr(t, fa, "app_settings"))
			if _, ok := settings["ActivityLogEventHub__fullyQualifiedNamespace"]; !ok {
				t.Errorf("%s: no Event Hubs connection setting", name)
			}
		}
	}
}

// The reconcile and exportguard scan read the estate through Azure Resource
// Graph, which returns only what the identity may read: the identity's Reader
// (the least-privileged built-in role with */read, acdd72a7-…) on the guarded
// scope, the subscription by default, is that read role. identity.tf says so
// with the page that documents it.
func TestResourceGraphReadRole(t *testing.T) {
	c := load(t)
	grants, _ := c.grants(t)
	b, ok := grants[roleGrant{"azurerm_role_assignment.reader", "Reader"}]
	if !ok {
		t.Fatal("the identity holds no Reader")
	}
	if !c.refersTo(attr(t, b, "scope"), "local.guarded_scope") {
		t.Errorf("Reader is scoped to %v, not the guarded scope", c.refs(attr(t, b, "scope")))
	}
	if _, conditional := b.Body.Attributes["for_each"]; conditional {
		t.Error("Reader depends on a for_each: the reconcile needs it always")
	}
	gs := c.locals["guarded_scope"].Expr
	if !c.refersTo(gs, "data.azurerm_subscription.current.id") || !c.refersTo(gs, "var.guarded_scope") {
		t.Error("the guarded scope is not the deployment subscription by default")
	}
	id := string(src(t, c, "identity.tf"))
	for _, want := range []string{
		"https://learn.microsoft.com/azure/governance/resource-graph/overview#permissions-in-azure-resource-graph",
		"acdd72a7-3385-48ef-bd42-f606fba81ae7", // Reader's fixed role definition ID, in both clouds
		"Resource Graph",
	} {
		if !strings.Contains(id, want) {
			t.Errorf("identity.tf does not say %q next to the Reader assignment", want)
		}
	}
}
