package infra

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// keyEventTypes are the Key Vault events rule keyvault.key judges, and the
// only ones pkg/eventgrid decodes (pkg/eventgrid/keyvault.go).
var keyEventTypes = []string{
	"Microsoft.KeyVault.KeyExpired",
	"Microsoft.KeyVault.KeyNearExpiry",
	"Microsoft.KeyVault.KeyNewVersionCreated",
}

// The vaults of var.watched_key_vaults each get a Microsoft.KeyVault.vaults
// system topic (or keep the one they have), and an event subscription on it
// delivering exactly the three key events to resourceevents, as the
// subscription topic's does: same schema, retry policy and dead-lettering with
// the topic's identity, which may write the dead-letter container.
func TestKeyVaultEventsReachResourceEvents(t *testing.T) {
	c := load(t)

	v, ok := c.variables["watched_key_vaults"]
	if !ok {
		t.Fatal("no var.watched_key_vaults")
	}
	if d, ok := v.Body.Attributes["default"]; !ok {
		t.Error("var.watched_key_vaults has no default: a deployment without vaults must not need it")
	} else if val, ok := literal(d.Expr); !ok || val.LengthInt() != 0 {
		t.Error("var.watched_key_vaults does not default to no vaults")
	}
	typ := string(v.Body.Attributes["type"].Expr.Range().SliceBytes(src(t, c, "variables.tf")))
	for _, field := range []string{"id", "location", "existing_system_topic"} {
		if !strings.Contains(typ, field) {
			t.Errorf("var.watched_key_vaults has no %s", field)
		}
	}

	// The topics made here: one per vault without one, in the vault's region,
	// with an identity to dead-letter with.
	topic := c.resource(t, "azurerm_eventgrid_system_topic.key_vault")
	if s := literalString(attr(t, topic, "topic_type")); s != "Microsoft.KeyVault.vaults" {
		t.Errorf("Key Vault topic type %q, want Microsoft.KeyVault.vaults", s)
	}
	for path, want := range map[string]string{"for_each": "var.watched_key_vaults", "source_resource_id": "each.value.id", "location": "each.value.location"} {
		if !c.refersTo(attr(t, topic, path), want) {
			t.Errorf("Key Vault topic %s does not come from %s", path, want)
		}
	}
	if s := literalString(attr(t, topic, "identity.type")); s != "SystemAssigned" {
		t.Errorf("Key Vault topic identity %q, want SystemAssigned (dead-lettering)", s)
	}
	// ...or the vault's own, when it has one.
	if !c.refersTo(c.locals["key_vault_topics"].Expr, "azurerm_eventgrid_system_topic.key_vault") ||
		!c.refersTo(c.locals["key_vault_topics"].Expr, "data.azurerm_eventgrid_system_topic.key_vault") {
		t.Error("local.key_vault_topics is not the topics made here and the existing ones")
	}
	if d, ok := c.data["azurerm_eventgrid_system_topic.key_vault"]; !ok || !c.refersTo(attr(t, d, "for_each"), "var.watched_key_vaults") {
		t.Error("existing Key Vault topics are not read from var.watched_key_vaults")
	}

	sub := c.resource(t, "azurerm_eventgrid_system_topic_event_subscription.key_vault")
	fe := attr(t, sub, "for_each")
	if !c.refersTo(fe, "var.watched_key_vaults") || !c.refersTo(fe, "var.subscribe_resourceevents") {
		t.Error("the Key Vault subscriptions are not one per watched vault, subject to subscribe_resourceevents")
	}
	for _, path := range []string{"system_topic", "resource_group_name"} {
		if !c.refersTo(attr(t, sub, path), "local.key_vault_topics") {
			t.Errorf("the Key Vault subscription's %s is not its vault's topic", path)
		}
	}
	got := c.stringList(attr(t, sub, "included_event_types"))
	slices.Sort(got)
	if !slices.Equal(got, keyEventTypes) {
		t.Errorf("Key Vault event types %v, want exactly %v", got, keyEventTypes)
	}

	// The endpoint is the resourceevents function, an eventGridTrigger.
	fn := attr(t, sub, "azure_function_endpoint.function_id")
	tr, ok := fn.(*hclsyntax.ScopeTraversalExpr)
	if !ok || traversalName(tr.Traversal) != "local.resourceevents_function_id" {
		t.Errorf("Key Vault events go to %v, not local.resourceevents_function_id", c.refs(fn))
	}
	tmpl, ok := c.locals["resourceevents_function_id"].Expr.(*hclsyntax.TemplateExpr)
	if !ok || len(tmpl.Parts) != 2 || !c.refersTo(tmpl.Parts[0], "azurerm_linux_function_app.this.id") ||
		literalString(tmpl.Parts[1]) != "/functions/resourceevents" {
		t.Error(`local.resourceevents_function_id is not "${azurerm_linux_function_app.this.id}/functions/resourceevents"`)
	}
	raw, err := os.ReadFile("../functions/resourceevents/function.json")
	if err != nil || !strings.Contains(string(raw), `"eventGridTrigger"`) {
		t.Errorf("functions/resourceevents is not an eventGridTrigger function (%v)", err)
	}

	// Delivered as the subscription topic's events are.
	res := c.resource(t, "azurerm_eventgrid_system_topic_event_subscription.resourceevents")
	for _, path := range []string{"event_delivery_schema", "retry_policy.max_delivery_attempts", "retry_policy.event_time_to_live",
		"azure_function_endpoint.max_events_per_batch", "azure_function_endpoint.preferred_batch_size_in_kilobytes", "dead_letter_identity.type"} {
		want, _ := literal(attr(t, res, path))
		e, ok := lookup(sub.Body, path)
		if !ok {
			t.Errorf("the Key Vault subscription has no %s", path)
			continue
		}
		if g, _ := literal(e); !g.RawEquals(want) {
			t.Errorf("the Key Vault subscription's %s is %#v, the resource events' %#v", path, g, want)
		}
	}
	for path, want := range map[string]string{
		"storage_blob_dead_letter_destination.storage_account_id":          "azurerm_storage_account.host.id",
		"storage_blob_dead_letter_destination.storage_blob_container_name": "azurerm_storage_container.deadletter.name",
		"depends_on": "azurerm_role_assignment.eventgrid_deadletter_key_vault",
	} {
		e, ok := lookup(sub.Body, path)
		if !ok || !c.refersTo(e, want) {
			t.Errorf("the Key Vault subscription's %s is not %s", path, want)
		}
	}
	role := c.resource(t, "azurerm_role_assignment.eventgrid_deadletter_key_vault")
	if s := literalString(attr(t, role, "role_definition_name")); s != "Storage Blob Data Contributor" {
		t.Errorf("Key Vault topics dead-letter with %q", s)
	}
	for path, want := range map[string]string{"for_each": "var.watched_key_vaults", "scope": "azurerm_storage_account.host.id", "principal_id": "local.key_vault_topics"} {
		if !c.refersTo(attr(t, role, path), want) {
			t.Errorf("the Key Vault dead-letter role's %s is not %s", path, want)
		}
	}
}

// var.watched_key_vaults refuses what is not a Key Vault, with Terraform's own
// evaluation of its validation (regex and can as Terraform defines them).
func TestWatchedKeyVaultsValidation(t *testing.T) {
	c := load(t)
	vals := nested(c.variables["watched_key_vaults"], "validation")
	if len(vals) != 1 {
		t.Fatalf("var.watched_key_vaults has %d validations, want 1", len(vals))
	}
	cond := attr(t, vals[0], "condition")
	const vault = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-cmk"
	vaultObj := func(id, location string) cty.Value {
		return cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal(id), "location": cty.StringVal(location)})
	}
	for _, tc := range []struct {
		name   string
		vaults map[string]cty.Value
		ok     bool
	}{
		{"one vault", map[string]cty.Value{"cmk": vaultObj(vault, "eastus")}, true},
		{"lower-case provider, as az prints it", map[string]cty.Value{"cmk": vaultObj(strings.ToLower(vault), "usgovvirginia")}, true},
		{"a storage account", map[string]cty.Value{"cmk": vaultObj("/subscriptions/0/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st", "eastus")}, false},
		{"a key, not a vault", map[string]cty.Value{"cmk": vaultObj(vault+"/keys/k1", "eastus")}, false},
		{"a vault name, not an ID", map[string]cty.Value{"cmk": vaultObj("kv-cmk", "eastus")}, false},
		{"no location", map[string]cty.Value{"cmk": vaultObj(vault, "")}, false},
		{"a key with a slash", map[string]cty.Value{"a/b": vaultObj(vault, "eastus")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := &hcl.EvalContext{
				Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{"watched_key_vaults": cty.MapVal(tc.vaults)})},
				Functions: map[string]function.Function{"regex": stdlib.RegexFunc, "can": tryfunc.CanFunc, "alltrue": allTrue},
			}
			v, diags := cond.Value(ctx)
			if diags.HasErrors() {
				t.Fatalf("condition: %s", diags.Error())
			}
			if v.True() != tc.ok {
				t.Errorf("accepted = %v, want %v", v.True(), tc.ok)
			}
		})
	}
}

// allTrue is Terraform's alltrue for a list of known bools.
var allTrue = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		for it := args[0].ElementIterator(); it.Next(); {
			if _, v := it.Element(); !v.True() {
				return cty.False, nil
			}
		}
		return cty.True, nil
	},
})
