package infra

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/exportguard/exportguard/pkg/cosmos"
	"github.com/exportguard/exportguard/pkg/eventhubs"
	"github.com/exportguard/exportguard/pkg/functions"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/rules"
)

// config is every .tf file of this directory, parsed.
type config struct {
	files     map[string]*hclsyntax.Body
	resources map[string]*hclsyntax.Block // "type.name"
	data      map[string]*hclsyntax.Block // "type.name"
	variables map[string]*hclsyntax.Block
	outputs   map[string]*hclsyntax.Block
	locals    map[string]*hclsyntax.Attribute
	providers map[string]*hclsyntax.Block
	terraform []*hclsyntax.Block
}

func load(t *testing.T) *config {
	t.Helper()
	paths, err := filepath.Glob("*.tf")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no .tf files here (%v)", err)
	}
	c := &config{files: map[string]*hclsyntax.Body{}, resources: map[string]*hclsyntax.Block{},
		data: map[string]*hclsyntax.Block{}, variables: map[string]*hclsyntax.Block{}, outputs: map[string]*hclsyntax.Block{},
		locals: map[string]*hclsyntax.Attribute{}, providers: map[string]*hclsyntax.Block{}}
	p := hclparse.NewParser()
	for _, path := range paths {
		f, diags := p.ParseHCLFile(path)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", path, diags.Error())
		}
		body := f.Body.(*hclsyntax.Body)
		c.files[path] = body
		if len(body.Attributes) > 0 {
			t.Errorf("%s: top-level attributes %v", path, keys(body.Attributes))
		}
		for _, b := range body.Blocks {
			id := strings.Join(b.Labels, ".")
			dup := func(m map[string]*hclsyntax.Block) {
				if _, ok := m[id]; ok {
					t.Errorf("%s: %s %s declared twice", path, b.Type, id)
				}
				m[id] = b
			}
			switch b.Type {
			case "resource":
				dup(c.resources)
			case "data":
				dup(c.data)
			case "variable":
				dup(c.variables)
			case "output":
				dup(c.outputs)
			case "provider":
				dup(c.providers)
			case "terraform":
				c.terraform = append(c.terraform, b)
			case "locals":
				for name, a := range b.Body.Attributes {
					if _, ok := c.locals[name]; ok {
						t.Errorf("%s: local.%s declared twice", path, name)
					}
					c.locals[name] = a
				}
			default:
				t.Errorf("%s: unexpected block %s", path, b.Type)
			}
		}
	}
	return c
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// resource returns a declared resource, failing the test when there is none.
func (c *config) resource(t *testing.T, id string) *hclsyntax.Block {
	t.Helper()
	b, ok := c.resources[id]
	if !ok {
		t.Fatalf("no resource %s", id)
	}
	return b
}

func (c *config) ofType(typ string) []string {
	var out []string
	for id := range c.resources {
		if strings.HasPrefix(id, typ+".") {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// attr returns a block's attribute expression by path ("site_config.always_on").
func attr(t *testing.T, b *hclsyntax.Block, path string) hclsyntax.Expression {
	t.Helper()
	e, ok := lookup(b.Body, path)
	if !ok {
		t.Fatalf("%s %s has no %s", b.Type, strings.Join(b.Labels, "."), path)
	}
	return e
}

func lookup(body *hclsyntax.Body, path string) (hclsyntax.Expression, bool) {
	parts := strings.Split(path, ".")
	for _, name := range parts[:len(parts)-1] {
		var next *hclsyntax.Body
		for _, nb := range body.Blocks {
			if nb.Type == name {
				next = nb.Body
				break
			}
		}
		if next == nil {
			return nil, false
		}
		body = next
	}
	a, ok := body.Attributes[parts[len(parts)-1]]
	if !ok {
		return nil, false
	}
	return a.Expr, true
}

func nested(b *hclsyntax.Block, typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, nb := range b.Body.Blocks {
		if nb.Type == typ {
			out = append(out, nb)
		}
	}
	return out
}

// traversalName spells a reference as Terraform does, without index steps:
// azurerm_eventgrid_system_topic.subscription.identity.principal_id.
func traversalName(tr hcl.Traversal) string {
	var parts []string
	for _, s := range tr {
		switch s := s.(type) {
		case hcl.TraverseRoot:
			parts = append(parts, s.Name)
		case hcl.TraverseAttr:
			parts = append(parts, s.Name)
		}
	}
	return strings.Join(parts, ".")
}

// refs lists what an expression refers to, following locals.
func (c *config) refs(e hclsyntax.Expression) []string {
	seen := map[string]bool{}
	var out []string
	var walk func(hclsyntax.Expression)
	walk = func(e hclsyntax.Expression) {
		for _, tr := range e.Variables() {
			name := traversalName(tr)
			if seen[name] {
				continue
			}
			seen[name] = true
			out = append(out, name)
			if strings.HasPrefix(name, "local.") {
				if a, ok := c.locals[strings.Split(name, ".")[1]]; ok {
					walk(a.Expr)
				}
			}
		}
	}
	walk(e)
	return out
}

// refersTo reports whether e refers to want, or to something below it.
func (c *config) refersTo(e hclsyntax.Expression, want string) bool {
	for _, r := range c.refs(e) {
		if r == want || strings.HasPrefix(r, want+".") {
			return true
		}
	}
	return false
}

// literal evaluates an expression that needs no variables.
func literal(e hclsyntax.Expression) (cty.Value, bool) {
	v, diags := e.Value(nil)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return cty.NilVal, false
	}
	return v, true
}

func literalString(e hclsyntax.Expression) string {
	v, ok := literal(e)
	if !ok || v.IsNull() || v.Type() != cty.String {
		return ""
	}
	return v.AsString()
}

func literalBool(e hclsyntax.Expression) (bool, bool) {
	v, ok := literal(e)
	if !ok || v.IsNull() || v.Type() != cty.Bool {
		return false, false
	}
	return v.True(), true
}

// strings lists the string literals of a list, set or toset([...]), following a local.
func (c *config) stringList(e hclsyntax.Expression) []string {
	switch x := e.(type) {
	case *hclsyntax.FunctionCallExpr:
		if x.Name == "toset" && len(x.Args) == 1 {
			return c.stringList(x.Args[0])
		}
	case *hclsyntax.ScopeTraversalExpr:
		if name := traversalName(x.Traversal); strings.HasPrefix(name, "local.") {
			if a, ok := c.locals[strings.TrimPrefix(name, "local.")]; ok {
				return c.stringList(a.Expr)
			}
		}
	case *hclsyntax.TupleConsExpr:
		var out []string
		for _, it := range x.Exprs {
			if s := literalString(it); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// objectItems lists the items of an object constructor, through merge() and locals.
func (c *config) objectItems(t *testing.T, e hclsyntax.Expression) map[string]hclsyntax.Expression {
	t.Helper()
	out := map[string]hclsyntax.Expression{}
	switch x := e.(type) {
	case *hclsyntax.ObjectConsExpr:
		for _, it := range x.Items {
			k, ok := literal(it.KeyExpr)
			if !ok || k.Type() != cty.String {
				t.Fatalf("object key %T is not a literal", it.KeyExpr)
			}
			out[k.AsString()] = it.ValueExpr
		}
	case *hclsyntax.FunctionCallExpr:
		if x.Name != "merge" {
			t.Fatalf("want merge(...), got %s(...)", x.Name)
		}
		for _, a := range x.Args {
			for k, v := range c.objectItems(t, a) {
				out[k] = v
			}
		}
	case *hclsyntax.ScopeTraversalExpr:
		name := traversalName(x.Traversal)
		a, ok := c.locals[strings.TrimPrefix(name, "local.")]
		if !strings.HasPrefix(name, "local.") || !ok {
			t.Fatalf("%s is not a local", name)
		}
		return c.objectItems(t, a.Expr)
	case *hclsyntax.ForExpr:
		// A computed map (the Key Vault references): no literal keys to list.
	default:
		t.Fatalf("not an object: %T", e)
	}
	return out
}

// allExprs walks every attribute of a body, nested blocks included.
func allExprs(body *hclsyntax.Body, f func(where string, e hclsyntax.Expression)) {
	for name, a := range body.Attributes {
		f(name, a.Expr)
	}
	for _, b := range body.Blocks {
		allExprs(b.Body, func(where string, e hclsyntax.Expression) { f(b.Type+"."+where, e) })
	}
}

var wantFiles = []string{"main.tf", "variables.tf", "outputs.tf", "functionapp.tf", "eventhubs.tf",
	"eventgrid.tf", "cosmos.tf", "keyvault.tf", "identity.tf", "monitoring.tf", "entra.tf"}

// Every reference resolves: variables, locals, data sources and resources are
// declared, and every declared variable is used. (terraform validate would say
// so; it cannot run here.)
func TestEveryReferenceResolves(t *testing.T) {
	c := load(t)
	for _, f := range wantFiles {
		if _, ok := c.files[f]; !ok {
			t.Errorf("%s is missing", f)
		}
	}
	used := map[string]bool{}
	// iterators are the labels of dynamic blocks: inside one, its label names
	// the element being made.
	iterators := map[string]bool{}
	var dynamics func(body *hclsyntax.Body)
	dynamics = func(body *hclsyntax.Body) {
		for _, nb := range body.Blocks {
			if nb.Type == "dynamic" && len(nb.Labels) == 1 {
				iterators[nb.Labels[0]] = true
			}
			dynamics(nb.Body)
		}
	}
	for _, b := range c.resources {
		dynamics(b.Body)
	}
	check := func(where string, e hclsyntax.Expression) {
		for _, tr := range e.Variables() {
			name := traversalName(tr)
			parts := strings.Split(name, ".")
			switch root := parts[0]; {
			case root == "var":
				if _, ok := c.variables[parts[1]]; !ok {
					t.Errorf("%s: var.%s is not declared", where, parts[1])
				}
				used[parts[1]] = true
			case root == "local":
				if _, ok := c.locals[parts[1]]; !ok {
					t.Errorf("%s: local.%s is not declared", where, parts[1])
				}
			case root == "data":
				if len(parts) < 3 || c.data[parts[1]+"."+parts[2]] == nil {
					t.Errorf("%s: %s is not declared", where, name)
				}
			case strings.HasPrefix(root, "azurerm_"), strings.HasPrefix(root, "azuread_"):
				if len(parts) < 2 || c.resources[root+"."+parts[1]] == nil {
					t.Errorf("%s: %s is not declared", where, name)
				}
			case root == "each" || root == "count" || root == "self":
			case strings.Contains(where, ".dynamic.") && iterators[root]:
				// the iterator of a dynamic block (its label), inside the block
			default:
				t.Errorf("%s: unknown reference %s", where, name)
			}
		}
	}
	for id, b := range c.resources {
		allExprs(b.Body, func(w string, e hclsyntax.Expression) { check("resource "+id+" "+w, e) })
	}
	for id, b := range c.outputs {
		allExprs(b.Body, func(w string, e hclsyntax.Expression) { check("output "+id+" "+w, e) })
	}
	for id, b := range c.providers {
		allExprs(b.Body, func(w string, e hclsyntax.Expression) { check("provider "+id+" "+w, e) })
	}
	for name, a := range c.locals {
		check("local."+name, a.Expr)
	}
	for id, b := range c.variables {
		for _, v := range nested(b, "validation") {
			allExprs(v.Body, func(w string, e hclsyntax.Expression) { check("variable "+id+" "+w, e) })
		}
	}
	for name := range c.variables {
		if !used[name] {
			t.Errorf("var.%s is declared and never used", name)
		}
	}
	// Every variable says what it is for.
	for name, b := range c.variables {
		if _, ok := b.Body.Attributes["description"]; !ok {
			t.Errorf("var.%s has no description", name)
		}
	}
}

// The provider: azurerm 4, the public cloud or Azure Government by var.cloud,
// with the Government endpoints exportguard's own code uses.
func TestProviderAndClouds(t *testing.T) {
	c := load(t)
	p, ok := c.providers["azurerm"]
	if !ok {
		t.Fatal("no azurerm provider")
	}
	if !c.refersTo(attr(t, p, "environment"), "var.cloud") {
		t.Error("provider environment does not follow var.cloud")
	}
	clouds := c.objectItems(t, c.locals["clouds"].Expr)
	want := map[string]string{eventhubs.CloudPublic: "public", eventhubs.CloudGovernment: "usgovernment"}
	for cloud, env := range want {
		e, ok := clouds[cloud]
		if !ok {
			t.Fatalf("local.clouds has no %s", cloud)
		}
		items := c.objectItems(t, e)
		if got := literalString(items["azurerm_environment"]); got != env {
			t.Errorf("%s: azurerm environment %q, want %q", cloud, got, env)
		}
		suffix, _ := eventhubs.Suffix(cloud)
		if got := literalString(items["servicebus_suffix"]); got != suffix {
			t.Errorf("%s: Event Hubs suffix %q, pkg/eventhubs says %q", cloud, got, suffix)
		}
	}
	v := c.variables["cloud"]
	if v == nil {
		t.Fatal("no var.cloud")
	}
	cond := nested(v, "validation")
	if len(cond) == 0 || !strings.Contains(string(src(t, c, "variables.tf")), `contains(["AzureCloud", "AzureUSGovernment"], var.cloud)`) {
		t.Error("var.cloud is not limited to AzureCloud and AzureUSGovernment")
	}
	var version string
	for _, tb := range c.terraform {
		for _, rp := range nested(tb, "required_providers") {
			if a, ok := rp.Body.Attributes["azurerm"]; ok {
				version = literalString(c.objectItems(t, a.Expr)["version"])
			}
		}
	}
	if !strings.HasPrefix(version, "~> 4.") {
		t.Errorf("azurerm version constraint %q, want ~> 4.x", version)
	}
}

func src(t *testing.T, _ *config, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const identity = "azurerm_user_assigned_identity.app"

// The function app: a custom handler on Linux, running as the user-assigned
// identity, with the settings its bindings and the handler read.
func TestFunctionApp(t *testing.T) {
	c := load(t)
	c.resource(t, identity)
	fa := c.resource(t, "azurerm_linux_function_app.this")
	if !c.refersTo(attr(t, fa, "service_plan_id"), "azurerm_service_plan.this.id") {
		t.Error("function app is not on the plan")
	}
	if os := literalString(attr(t, c.resource(t, "azurerm_service_plan.this"), "os_type")); os != "Linux" {
		t.Errorf("plan os_type %q", os)
	}
	ids := nested(fa, "identity")
	if len(ids) != 1 || literalString(ids[0].Body.Attributes["type"].Expr) != "UserAssigned" ||
		!c.refersTo(ids[0].Body.Attributes["identity_ids"].Expr, identity+".id") {
		t.Error("function app does not run as the user-assigned identity")
	}
	if !c.refersTo(attr(t, fa, "key_vault_reference_identity_id"), identity+".id") {
		t.Error("Key Vault references are not resolved with the identity")
	}
	if !c.refersTo(attr(t, fa, "storage_account_name"), "azurerm_storage_account.host.name") {
		t.Error("host storage is not the host storage account")
	}
	if b, ok := literalBool(attr(t, fa, "storage_uses_managed_identity")); !ok || !b {
		t.Error("host storage is not reached with the identity")
	}
	if b, ok := literalBool(attr(t, fa, "site_config.always_on")); !ok || !b {
		t.Error("always_on is off: the Event Hubs and timer triggers would stop on a dedicated plan")
	}
	if _, ok := lookup(fa.Body, "site_config.application_stack.use_custom_runtime"); ok {
		t.Error("application_stack conflicts with FUNCTIONS_WORKER_RUNTIME in app_settings")
	}
	if !c.refersTo(attr(t, fa, "site_config.application_insights_connection_string"), "azurerm_application_insights.this.connection_string") {
		t.Error("function app does not log to Application Insights")
	}
	if s := literalString(attr(t, fa, "site_config.health_check_path")); s != "/api/health" {
		t.Errorf("health check %q, want the health function's route", s)
	}

	settings := c.objectItems(t, attr(t, fa, "app_settings"))
	lit := func(name, want string) {
		t.Helper()
		if e, ok := settings[name]; !ok || literalString(e) != want {
			t.Errorf("app setting %s: want %q", name, want)
		}
	}
	ref := func(name string, want ...string) {
		t.Helper()
		e, ok := settings[name]
		if !ok {
			t.Errorf("no app setting %s", name)
			return
		}
		for _, w := range want {
			if !c.refersTo(e, w) {
				t.Errorf("app setting %s does not refer to %s (refers to %v)", name, w, c.refs(e))
			}
		}
	}
	lit("FUNCTIONS_WORKER_RUNTIME", "custom")
	lit("AzureWebJobsStorage__credential", "managedidentity")
	ref("AzureWebJobsStorage__clientId", identity+".client_id")
	ref("AZURE_CLIENT_ID", identity+".client_id")
	ref("EXPORTGUARD_STORE", "azurerm_cosmosdb_account.this.endpoint", "azurerm_cosmosdb_sql_database.this.name")
	if tmpl, ok := settings["EXPORTGUARD_STORE"].(*hclsyntax.TemplateExpr); !ok || literalString(tmpl.Parts[0]) != "cosmos:" {
		t.Error("EXPORTGUARD_STORE is not a cosmos: store URL")
	} else if last := literalString(tmpl.Parts[2]); last != "?database=" {
		t.Errorf("EXPORTGUARD_STORE names the database with %q", last)
	}
	ref("EXPORTGUARD_POLICY", "var.policy_file")
	ref("EXPORTGUARD_LOG_LEVEL", "var.log_level")

	// What functions/activitylog/function.json reads from the settings.
	var fj struct {
		Bindings []map[string]any `json:"bindings"`
	}
	raw, err := os.ReadFile("../functions/activitylog/function.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &fj); err != nil {
		t.Fatal(err)
	}
	var trigger map[string]any
	for _, b := range fj.Bindings {
		if b["type"] == "eventHubTrigger" {
			trigger = b
		}
	}
	if trigger == nil {
		t.Fatal("functions/activitylog has no eventHubTrigger")
	}
	conn, _ := trigger["connection"].(string)
	ref(conn+"__fullyQualifiedNamespace", "azurerm_eventhub_namespace.this.name", "local.cloud")
	lit(conn+"__credential", "managedidentity")
	ref(conn+"__clientId", identity+".client_id")
	placeholder := regexp.MustCompile(`^%(\w+)%$`)
	for key, wantRef := range map[string]string{"eventHubName": "azurerm_eventhub.activity_log.name", "consumerGroup": "azurerm_eventhub_consumer_group.function.name"} {
		v, _ := trigger[key].(string)
		m := placeholder.FindStringSubmatch(v)
		if m == nil {
			t.Errorf("activitylog %s %q is not an %%AppSetting%%", key, v)
			continue
		}
		ref(m[1], wantRef)
	}
	// And the sample settings for func start name the same settings.
	sample, err := os.ReadFile("../local.settings.sample.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"FUNCTIONS_WORKER_RUNTIME", conn + "__fullyQualifiedNamespace", "ActivityLogEventHubName",
		"ActivityLogConsumerGroup", "EXPORTGUARD_STORE", "EXPORTGUARD_POLICY", "AZURE_CLIENT_ID"} {
		if !strings.Contains(string(sample), `"`+name+`"`) {
			t.Errorf("local.settings.sample.json lacks %s", name)
		}
		if _, ok := settings[name]; !ok {
			t.Errorf("app settings lack %s", name)
		}
	}
	// Webhook URLs come from Key Vault references.
	kv := src(t, c, "keyvault.tf")
	for _, want := range []string{`@Microsoft.KeyVault(SecretUri=${secret.versionless_id})`, `EXPORTGUARD_TEAMS_URL`, `EXPORTGUARD_SLACK_URL`} {
		if !strings.Contains(string(kv), want) {
			t.Errorf("keyvault.tf lacks %s", want)
		}
	}
	if !c.refersTo(attr(t, fa, "app_settings"), "local.notify_app_settings") || !c.refersTo(c.locals["notify_app_settings"].Expr, "azurerm_key_vault_secret.notify") {
		t.Error("the webhook URL settings do not come from the Key Vault secrets")
	}
	if !c.refersTo(attr(t, c.resource(t, "azurerm_key_vault_secret.notify"), "key_vault_id"), "azurerm_key_vault.this.id") {
		t.Error("secrets are not in the vault")
	}
	if b, _ := literalBool(attr(t, c.resource(t, "azurerm_key_vault.this"), "rbac_authorization_enabled")); !b {
		t.Error("the vault does not use Azure RBAC")
	}
	if !c.refersTo(attr(t, c.resource(t, "azurerm_application_insights.this"), "workspace_id"), "azurerm_log_analytics_workspace.this.id") {
		t.Error("Application Insights is not workspace-based")
	}
}

// roleGrant is one role an azurerm_role_assignment grants.
type roleGrant struct{ id, role string }

// grants lists the roles the user-assigned identity holds, by assignment, and
// the for_each of each assignment.
func (c *config) grants(t *testing.T) (map[roleGrant]*hclsyntax.Block, []string) {
	t.Helper()
	out := map[roleGrant]*hclsyntax.Block{}
	var others []string
	for _, id := range c.ofType("azurerm_role_assignment") {
		b := c.resources[id]
		if !c.refersTo(attr(t, b, "principal_id"), identity+".principal_id") {
			others = append(others, id)
			continue
		}
		role := attr(t, b, "role_definition_name")
		if s := literalString(role); s != "" {
			out[roleGrant{id, s}] = b
			continue
		}
		fe, ok := b.Body.Attributes["for_each"]
		if !ok || !c.refersTo(role, "each.value") {
			t.Fatalf("%s: role is neither a literal nor each.value", id)
		}
		var roles []string
		if cond, ok := fe.Expr.(*hclsyntax.ConditionalExpr); ok {
			roles = c.stringList(cond.TrueResult)
		} else {
			roles = c.stringList(fe.Expr)
		}
		if len(roles) == 0 {
			t.Fatalf("%s: for_each lists no roles", id)
		}
		for _, r := range roles {
			out[roleGrant{id, r}] = b
		}
	}
	return out, others
}

// Role assignments, least privilege: read the guarded scope, receive from the
// one hub, read secrets of the one vault, the host's storage, the store's data
// plane; write roles only when remediation is enabled.
func TestRoleAssignmentsAreLeastPrivilege(t *testing.T) {
	c := load(t)
	grants, others := c.grants(t)
	want := map[string]string{
		"Reader":                         "local.guarded_scope",
		"Azure Event Hubs Data Receiver": "azurerm_eventhub.activity_log.id",
		"Key Vault Secrets User":         "azurerm_key_vault.this.id",
		"Storage Blob Data Owner":        "azurerm_storage_account.host.id",
		"Storage Table Data Contributor": "azurerm_storage_account.host.id",
	}
	readOnly := map[string]bool{}
	for role := range want {
		readOnly[role] = true
	}
	found := map[string]bool{}
	remediation := map[string]bool{}
	for g, b := range grants {
		if scope, ok := want[g.role]; ok && !strings.Contains(g.id, "remediation") {
			found[g.role] = true
			if !c.refersTo(attr(t, b, "scope"), scope) {
				t.Errorf("%s (%s) is scoped to %v, want %s", g.id, g.role, c.refs(attr(t, b, "scope")), scope)
			}
			if s := literalString(attr(t, b, "principal_type")); s != "ServicePrincipal" {
				t.Errorf("%s: principal_type %q", g.id, s)
			}
			continue
		}
		// Anything else must be granted only with remediation on.
		var cond *hclsyntax.ConditionalExpr
		if fe, ok := b.Body.Attributes["for_each"]; ok {
			cond, _ = fe.Expr.(*hclsyntax.ConditionalExpr)
		}
		if cond == nil || !c.refersTo(cond.Condition, "var.enable_remediation") || len(c.stringList(cond.FalseResult)) != 0 {
			t.Errorf("%s grants %s whatever enable_remediation says", g.id, g.role)
			continue
		}
		if f, ok := cond.FalseResult.(*hclsyntax.FunctionCallExpr); !ok || f.Name != "toset" {
			t.Errorf("%s: when remediation is off, for_each should be toset([])", g.id)
		}
		if !c.refersTo(attr(t, b, "scope"), "local.guarded_scope") {
			t.Errorf("%s: remediation roles beyond the guarded scope", g.id)
		}
		remediation[g.role] = true
	}
	for role := range want {
		if !found[role] {
			t.Errorf("the identity lacks %s", role)
		}
	}
	for _, role := range []string{"Storage Account Contributor", "Network Contributor", "Role Based Access Control Administrator"} {
		if !remediation[role] {
			t.Errorf("remediation lacks %s", role)
		}
	}
	for role := range remediation {
		if role == "Owner" || role == "Contributor" || role == "User Access Administrator" {
			t.Errorf("remediation grants %s: far beyond what it writes", role)
		}
	}
	// The RBAC administrator may delete role assignments, not create them.
	rem := c.resource(t, "azurerm_role_assignment.remediation")
	if !c.refersTo(attr(t, rem, "condition"), "local.rbac_delete_only_condition") ||
		!strings.Contains(literalString(c.locals["rbac_delete_only_condition"].Expr), "!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})") {
		t.Error("Role Based Access Control Administrator is not limited to deleting role assignments")
	}
	// The store's data plane.
	sql := c.resource(t, "azurerm_cosmosdb_sql_role_assignment.app")
	if !c.refersTo(attr(t, sql, "principal_id"), identity+".principal_id") ||
		!c.refersTo(attr(t, sql, "scope"), "azurerm_cosmosdb_account.this.id") ||
		!c.refersTo(attr(t, sql, "role_definition_id"), "azurerm_cosmosdb_account.this.id") ||
		!strings.Contains(string(src(t, c, "identity.tf")), "/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002") {
		t.Error("the identity lacks Cosmos DB Built-in Data Contributor on the account")
	}
	// Assignments to others: whoever runs Terraform (secrets), Event Grid's
	// dead-letter identity, operators (record, replay --to-eventhub).
	wantOthers := map[string]string{
		"azurerm_role_assignment.deployer_secrets_officer":       "data.azurerm_client_config.current.object_id",
		"azurerm_role_assignment.eventgrid_deadletter":           "azurerm_eventgrid_system_topic.subscription.identity.principal_id",
		"azurerm_role_assignment.eventgrid_deadletter_key_vault": "local.key_vault_topics",
		"azurerm_role_assignment.operator_receiver":              "each.value",
		"azurerm_role_assignment.operator_sender":                "each.value",
	}
	for _, id := range others {
		w, ok := wantOthers[id]
		if !ok {
			t.Errorf("%s grants a role to someone unexpected: %v", id, c.refs(attr(t, c.resources[id], "principal_id")))
			continue
		}
		if !c.refersTo(attr(t, c.resources[id], "principal_id"), w) {
			t.Errorf("%s: principal is not %s", id, w)
		}
	}
	for _, id := range []string{"azurerm_role_assignment.operator_receiver", "azurerm_role_assignment.operator_sender"} {
		if !c.refersTo(attr(t, c.resources[id], "scope"), "azurerm_eventhub.activity_log.id") {
			t.Errorf("%s is not scoped to the hub", id)
		}
	}
}

// The Activity Log path: the subscription's diagnostic setting streams the
// Administrative category to the hub the function app's trigger reads.
func TestActivityLogReachesTheHub(t *testing.T) {
	c := load(t)
	ds := c.resource(t, "azurerm_monitor_diagnostic_setting.activity_log")
	if !c.refersTo(attr(t, ds, "target_resource_id"), "data.azurerm_subscription.current.id") {
		t.Error("the diagnostic setting is not on the subscription")
	}
	if !c.refersTo(attr(t, ds, "eventhub_name"), "azurerm_eventhub.activity_log.name") {
		t.Error("the diagnostic setting does not name the hub")
	}
	if !c.refersTo(attr(t, ds, "eventhub_authorization_rule_id"), "azurerm_eventhub_namespace_authorization_rule.activity_log.id") {
		t.Error("the diagnostic setting does not send with the namespace's authorization rule")
	}
	rule := c.resource(t, "azurerm_eventhub_namespace_authorization_rule.activity_log")
	for _, right := range []string{"listen", "send", "manage"} {
		if b, _ := literalBool(attr(t, rule, right)); !b {
			t.Errorf("the authorization rule lacks %s, which Azure Monitor needs", right)
		}
	}
	if !c.refersTo(attr(t, rule, "namespace_name"), "azurerm_eventhub_namespace.this.name") {
		t.Error("the authorization rule is not on the namespace")
	}
	var cats []string
	for _, l := range nested(ds, "enabled_log") {
		cats = append(cats, literalString(l.Body.Attributes["category"].Expr))
	}
	if !slices.Contains(cats, "Administrative") {
		t.Errorf("log categories %v lack Administrative", cats)
	}
	hub := c.resource(t, "azurerm_eventhub.activity_log")
	if !c.refersTo(attr(t, hub, "namespace_id"), "azurerm_eventhub_namespace.this.id") {
		t.Error("the hub is not in the namespace")
	}
	for _, id := range []string{"azurerm_eventhub_consumer_group.function", "azurerm_eventhub_consumer_group.record"} {
		if !c.refersTo(attr(t, c.resource(t, id), "eventhub_name"), "azurerm_eventhub.activity_log.name") {
			t.Errorf("%s is not on the hub", id)
		}
	}
	if literalString(attr(t, c.resource(t, "azurerm_eventhub_consumer_group.function"), "name")) ==
		literalString(attr(t, c.resource(t, "azurerm_eventhub_consumer_group.record"), "name")) {
		t.Error("record shares the function app's consumer group")
	}
}

// The Event Grid path: a system topic on the subscription, filtered to the
// operations the rules judge, pushed to the resourceevents function.
func TestResourceEventsReachTheFunction(t *testing.T) {
	c := load(t)
	topic := c.resource(t, "azurerm_eventgrid_system_topic.subscription")
	if s := literalString(attr(t, topic, "topic_type")); s != "Microsoft.Resources.Subscriptions" {
		t.Errorf("topic type %q", s)
	}
	if !c.refersTo(attr(t, topic, "source_resource_id"), "data.azurerm_subscription.current.id") {
		t.Error("the system topic's source is not the subscription")
	}
	if s := literalString(attr(t, topic, "location")); !strings.EqualFold(s, "global") {
		t.Errorf("subscription topics are global, not %q", s)
	}
	sub := c.resource(t, "azurerm_eventgrid_system_topic_event_subscription.resourceevents")
	if !c.refersTo(attr(t, sub, "system_topic"), "azurerm_eventgrid_system_topic.subscription.name") {
		t.Error("the event subscription is not on the system topic")
	}
	fn := attr(t, sub, "azure_function_endpoint.function_id")
	if !c.refersTo(fn, "azurerm_linux_function_app.this.id") {
		t.Errorf("the event subscription does not target the function app: %v", c.refs(fn))
	}
	if !strings.Contains(string(src(t, c, "eventgrid.tf")), `"${azurerm_linux_function_app.this.id}/functions/resourceevents"`) {
		t.Error("the event subscription does not target the resourceevents function")
	}
	raw, err := os.ReadFile("../functions/resourceevents/function.json")
	if err != nil || !strings.Contains(string(raw), `"eventGridTrigger"`) {
		t.Errorf("functions/resourceevents is not an eventGridTrigger function (%v)", err)
	}
	types := c.stringList(attr(t, sub, "included_event_types"))
	for _, want := range []string{"Microsoft.Resources.ResourceWriteSuccess", "Microsoft.Resources.ResourceDeleteSuccess", "Microsoft.Resources.ResourceActionSuccess"} {
		if !slices.Contains(types, want) {
			t.Errorf("event types lack %s", want)
		}
	}
	filters := nested(sub, "advanced_filter")
	if len(filters) != 1 {
		t.Fatal("want one advanced_filter")
	}
	bw := nested(filters[0], "string_begins_with")
	if len(bw) != 1 || literalString(bw[0].Body.Attributes["key"].Expr) != "data.operationName" {
		t.Fatal("want string_begins_with on data.operationName")
	}
	prefixes := c.stringList(bw[0].Body.Attributes["values"].Expr)
	if len(prefixes) == 0 || len(prefixes) > 25 {
		t.Fatalf("%d filter values (Event Grid allows 25)", len(prefixes))
	}
	// Every type a rule judges (residency.location judges all: the Activity Log
	// covers the rest), and the network security groups JIT grants open.
	ruleTypes := []string{rules.TypeStorageAccount, rules.TypeCosmosAccount, rules.TypeSQLServer, rules.TypeSQLEncryptionProtector,
		rules.TypeSQLFailoverGroup, rules.TypeSQLReplicationLink, rules.TypeDisk, rules.TypeDiskEncryptionSet, rules.TypeKeyVaultKey,
		rules.TypeJITPolicy, rules.TypeRoleAssignment, rules.TypeRoleAssignmentSchedule, rules.TypeRoleAssignmentScheduleRequest,
		"Microsoft.Network/networkSecurityGroups"}
	for _, typ := range ruleTypes {
		op := strings.ToLower(typ + "/write")
		covered := false
		for _, p := range prefixes {
			covered = covered || strings.HasPrefix(op, strings.ToLower(p))
		}
		if !covered {
			t.Errorf("no filter value admits %s operations", typ)
		}
	}
	// Undeliverable events are dead-lettered with the topic's identity, which may write there.
	if !c.refersTo(attr(t, sub, "storage_blob_dead_letter_destination.storage_account_id"), "azurerm_storage_account.host.id") {
		t.Error("no dead-letter destination")
	}
	if !c.refersTo(attr(t, sub, "depends_on"), "azurerm_role_assignment.eventgrid_deadletter") {
		t.Error("the event subscription does not wait for the dead-letter role")
	}
	kv := c.resource(t, "azurerm_eventgrid_system_topic_event_subscription.key_vault")
	if !c.refersTo(attr(t, kv, "azure_function_endpoint.function_id"), "azurerm_linux_function_app.this.id") {
		t.Error("Key Vault events do not reach the function app")
	}
}

// The store: the containers and partition key paths pkg/cosmos documents and
// checks at start, and the paths it leaves out of the index.
func TestCosmosContainersArePkgCosmos(t *testing.T) {
	c := load(t)
	doc, err := os.ReadFile("../pkg/cosmos/doc.go")
	if err != nil {
		t.Fatal(err)
	}
	// The table under "container  partition key  documents".
	want := map[string]string{}
	in := false
	for _, line := range strings.Split(string(doc), "\n") {
		switch {
		case strings.Contains(line, "container  partition key"):
			in = true
		case in && strings.HasPrefix(line, "//\t"):
			f := strings.Fields(strings.TrimPrefix(line, "//\t"))
			if len(f) >= 2 && strings.HasPrefix(f[1], "/") {
				want[f[0]] = f[1]
			}
		case in:
			in = false
		}
	}
	if len(want) < 3 {
		t.Fatalf("read %d containers from pkg/cosmos/doc.go: %v", len(want), want)
	}
	items := c.objectItems(t, c.locals["cosmos_containers"].Expr)
	got := map[string]string{}
	for name, e := range items {
		spec := c.objectItems(t, e)
		got[name] = literalString(spec["partition_key"])
		if _, ok := spec["default_ttl"]; ok {
			t.Errorf("container %s sets a default TTL: no container expires documents", name)
		}
		excluded := c.stringList(spec["excluded_paths"])
		if wantEx := cosmos.UnindexedPaths(name); !slices.Equal(excluded, wantEx) {
			t.Errorf("container %s leaves %v out of the index, pkg/cosmos leaves %v", name, excluded, wantEx)
		}
	}
	if len(got) != len(want) {
		t.Errorf("containers %v, pkg/cosmos/doc.go says %v", keys(got), keys(want))
	}
	for name, pk := range want {
		if got[name] != pk {
			t.Errorf("container %s: partition key %q, pkg/cosmos/doc.go says %q", name, got[name], pk)
		}
	}
	ctr := c.resource(t, "azurerm_cosmosdb_sql_container.this")
	if !c.refersTo(attr(t, ctr, "for_each"), "local.cosmos_containers") ||
		!c.refersTo(attr(t, ctr, "partition_key_paths"), "each.value.partition_key") ||
		!c.refersTo(attr(t, ctr, "indexing_policy.dynamic.for_each"), "each.value.excluded_paths") ||
		!c.refersTo(attr(t, ctr, "database_name"), "azurerm_cosmosdb_sql_database.this.name") {
		t.Error("the containers are not made from local.cosmos_containers in the database")
	}
	acct := c.resource(t, "azurerm_cosmosdb_account.this")
	if b, _ := literalBool(attr(t, acct, "local_authentication_disabled")); !b {
		t.Error("Cosmos DB keys are enabled; the identity is the only way in")
	}
	if n := len(nested(acct, "geo_location")); n != 1 {
		t.Errorf("the store replicates to %d regions; the guard's records stay in one", n)
	}
	if s := literalString(attr(t, c.resource(t, "azurerm_storage_account.host"), "account_replication_type")); s != "LRS" && s != "ZRS" {
		t.Errorf("host storage replication %q leaves the region", s)
	}
}

// The example policies parse, and name the settings the Key Vault references fill.
func TestExamplePoliciesAreValid(t *testing.T) {
	for path, cloud := range map[string]string{"policy.example.yaml": "AzureCloud", "policy.gov.example.yaml": "AzureUSGovernment"} {
		p, err := policyfile.Load(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if p.Cloud != cloud {
			t.Errorf("%s: cloud %s, want %s", path, p.Cloud, cloud)
		}
		if p.Notify.Teams.URL != "env:EXPORTGUARD_TEAMS_URL" {
			t.Errorf("%s: Teams URL %q", path, p.Notify.Teams.URL)
		}
	}
}

// The README says how to deploy and tear down, and that nothing here ran Terraform.
func TestReadme(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"terraform init", "terraform plan", "terraform apply", "make package",
		"config-zip", "terraform destroy", "usgovernment", "not been applied"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("README.md does not mention %q", want)
		}
	}
}

// The api and dashboard functions sit behind App Service authentication with
// the Entra application that declares their app roles, and only principals
// assigned a role get a token (DESIGN 3.7, pkg/functions/authz.go).
func TestAPIAuthentication(t *testing.T) {
	c := load(t)
	const app = "azuread_application.api"

	// App Service authentication: on, required, 401 without a token, Entra ID
	// with this application in the deployment's tenant and cloud.
	fa := c.resource(t, "azurerm_linux_function_app.this")
	for path, want := range map[string]bool{"auth_settings_v2.auth_enabled": true, "auth_settings_v2.require_authentication": true,
		"auth_settings_v2.login.token_store_enabled": false} {
		if b, ok := literalBool(attr(t, fa, path)); !ok || b != want {
			t.Errorf("%s is not %v", path, want)
		}
	}
	for path, want := range map[string]string{"auth_settings_v2.unauthenticated_action": "Return401",
		"auth_settings_v2.default_provider": "azureactivedirectory"} {
		if got := literalString(attr(t, fa, path)); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if !c.refersTo(attr(t, fa, "auth_settings_v2.active_directory_v2.client_id"), app+".client_id") {
		t.Error("App Service authentication does not sign in with the exportguard application")
	}
	endpoint := attr(t, fa, "auth_settings_v2.active_directory_v2.tenant_auth_endpoint")
	if !c.refersTo(endpoint, "local.cloud") || !c.refersTo(endpoint, "data.azurerm_client_config.current.tenant_id") {
		t.Errorf("the tenant endpoint is not the deployment's tenant in its cloud (refers to %v)", c.refs(endpoint))
	}
	clouds := c.objectItems(t, c.locals["clouds"].Expr)
	for cloud, host := range map[string]string{eventhubs.CloudPublic: "login.microsoftonline.com", eventhubs.CloudGovernment: "login.microsoftonline.us"} {
		if got := literalString(c.objectItems(t, clouds[cloud])["login_host"]); got != host {
			t.Errorf("%s: sign-in host %q, want %q", cloud, got, host)
		}
	}
	// Only what must answer without a token is excluded: the health probe and
	// Event Grid's deliveries (they carry the function's key).
	if got := c.stringList(attr(t, fa, "auth_settings_v2.excluded_paths")); !slices.Equal(got, []string{"/api/health", "/runtime/webhooks/eventgrid"}) {
		t.Errorf("paths without authentication: %v", got)
	}
	settings := c.objectItems(t, attr(t, fa, "app_settings"))
	if e, ok := settings["AZURE_TENANT_ID"]; !ok || !c.refersTo(e, "data.azurerm_client_config.current.tenant_id") {
		t.Error("AZURE_TENANT_ID (the api's tenant check) is not the deployment's tenant")
	}
	for name := range settings {
		if name == functions.EnvAPIAuth || name == functions.EnvAuthEnabled {
			t.Errorf("app setting %s: App Service sets WEBSITE_AUTH_ENABLED, and the local override is for workstations", name)
		}
	}

	// The application's two roles, with fixed IDs and the values the handler reads.
	a := c.resource(t, app)
	roles := map[string]*hclsyntax.Block{}
	ids := map[string]bool{}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for _, r := range nested(a, "app_role") {
		v := literalString(attr(t, r, "value"))
		roles[v] = r
		id := literalString(attr(t, r, "id"))
		if !uuid.MatchString(id) || ids[id] {
			t.Errorf("app role %s: id %q is not a fixed, distinct UUID", v, id)
		}
		ids[id] = true
		if b, ok := literalBool(attr(t, r, "enabled")); !ok || !b {
			t.Errorf("app role %s is not enabled", v)
		}
	}
	for role, members := range map[string][]string{functions.RoleReader: {"User", "Application"}, functions.RoleApprover: {"User"}} {
		r, ok := roles[role]
		if !ok {
			t.Errorf("the application declares no app role %s (it declares %v)", role, keys(roles))
			continue
		}
		if got := c.stringList(attr(t, r, "allowed_member_types")); !slices.Equal(got, members) {
			t.Errorf("app role %s may be assigned to %v, want %v", role, got, members)
		}
	}
	if len(roles) != 2 {
		t.Errorf("app roles %v, want exactly the reader and the approver", keys(roles))
	}
	if got := c.stringList(attr(t, a, "web.redirect_uris")); len(got) != 0 ||
		!strings.Contains(string(src(t, c, "entra.tf")), `"https://${local.function_app_hostname}/.auth/login/aad/callback"`) {
		t.Error("the application's redirect URI is not App Service authentication's callback on the function app")
	}

	// Assignment required on the enterprise application.
	sp := c.resource(t, "azuread_service_principal.api")
	if !c.refersTo(attr(t, sp, "client_id"), app+".client_id") {
		t.Error("the service principal is not the application's")
	}
	if b, ok := literalBool(attr(t, sp, "app_role_assignment_required")); !ok || !b {
		t.Error("app_role_assignment_required is not true: anyone in the tenant could get a token")
	}
	// Assignments from the variables, each to its role.
	for res, role := range map[string]string{"azuread_app_role_assignment.api_reader": functions.RoleReader,
		"azuread_app_role_assignment.api_approver": functions.RoleApprover} {
		b := c.resource(t, res)
		e, ok := attr(t, b, "app_role_id").(*hclsyntax.ScopeTraversalExpr)
		if !ok || traversalName(e.Traversal) != app+".app_role_ids" {
			t.Errorf("%s: app_role_id is not the application's app_role_ids[...]", res)
			continue
		}
		idx, ok := e.Traversal[len(e.Traversal)-1].(hcl.TraverseIndex)
		if !ok || idx.Key.Type() != cty.String || idx.Key.AsString() != role {
			t.Errorf("%s does not assign %s", res, role)
		}
		if !c.refersTo(attr(t, b, "resource_object_id"), "azuread_service_principal.api.object_id") {
			t.Errorf("%s is not on the enterprise application", res)
		}
	}

	// The azuread provider, in the deployment's cloud.
	p, ok := c.providers["azuread"]
	if !ok {
		t.Fatal("no azuread provider")
	}
	if !c.refersTo(attr(t, p, "environment"), "local.cloud") {
		t.Error("the azuread provider's environment does not follow var.cloud")
	}
	var version string
	for _, tb := range c.terraform {
		for _, rp := range nested(tb, "required_providers") {
			if a, ok := rp.Body.Attributes["azuread"]; ok {
				version = literalString(c.objectItems(t, a.Expr)["version"])
			}
		}
	}
	if !strings.HasPrefix(version, "~> 3.") {
		t.Errorf("azuread version constraint %q, want ~> 3.x (client_id on azuread_service_principal)", version)
	}

	// func start on a workstation has no App Service authentication: the
	// sample settings use the local override.
	sample, err := os.ReadFile("../local.settings.sample.json")
	if err != nil {
		t.Fatal(err)
	}
	var ls struct{ Values map[string]string }
	if err := json.Unmarshal(sample, &ls); err != nil {
		t.Fatal(err)
	}
	if ls.Values[functions.EnvAPIAuth] != "local" {
		t.Errorf("local.settings.sample.json: %s = %q, want local", functions.EnvAPIAuth, ls.Values[functions.EnvAPIAuth])
	}
	if _, ok := ls.Values[functions.EnvTenantID]; !ok {
		t.Errorf("local.settings.sample.json lacks %s", functions.EnvTenantID)
	}
}
