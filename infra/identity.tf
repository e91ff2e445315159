# The app's user-assigned managed identity, and everything it may do. Every role
# assignment the guard holds is in this file, so that its privileges can be
# reviewed in one place. The Functions host, the Event Hubs trigger and the
# handler itself (AZURE_CLIENT_ID for DefaultAzureCredential) all sign in as it.

resource "azurerm_user_assigned_identity" "app" {
  name                = local.names.identity
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  tags                = local.tags
}

# Read what it guards: ARM GETs of the resources events name (and what the rules
# gather around them: NICs, subnets, NSGs, JIT policies, role assignments), and
# the reconcile timer's and `exportguard scan`'s Azure Resource Graph queries.
# Resource Graph returns only what the caller may read ("at least read access
# to the resources you want to query",
# https://learn.microsoft.com/azure/governance/resource-graph/overview#permissions-in-azure-resource-graph),
# so this one role is also the Resource Graph read role: Reader (built-in role
# acdd72a7-3385-48ef-bd42-f606fba81ae7, the same ID in Azure Government) is
# the least-privileged built-in role with */read. Its scope is the scope the
# reconcile sees: the subscription by default; with guarded_scope a resource
# group, the reconcile sees that group only.
resource "azurerm_role_assignment" "reader" {
  scope                = local.guarded_scope
  role_definition_name = "Reader"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
  description          = "exportguard reads the resources it judges"
}

# The activitylog function's Event Hubs trigger, on the one hub only.
resource "azurerm_role_assignment" "eventhub_receiver" {
  scope                = azurerm_eventhub.activity_log.id
  role_definition_name = "Azure Event Hubs Data Receiver"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
  description          = "exportguard's activitylog trigger reads the Activity Log hub"
}

# The webhook URLs the app settings reference (@Microsoft.KeyVault(...)).
resource "azurerm_role_assignment" "keyvault_secrets_user" {
  scope                = azurerm_key_vault.this.id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
  description          = "exportguard's app settings read the webhook URLs"
}

# Host storage (AzureWebJobsStorage__*): blobs for the host's keys and leases, the
# timer's locks and the Event Hubs checkpoints; tables for the host's diagnostic
# events. No queue role: no function uses a queue.
resource "azurerm_role_assignment" "host_storage" {
  for_each             = toset(["Storage Blob Data Owner", "Storage Table Data Contributor"])
  scope                = azurerm_storage_account.host.id
  role_definition_name = each.value
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
  description          = "Functions host storage for exportguard"
}

# The store: Cosmos DB Built-in Data Contributor (data plane only: it cannot
# create or delete containers, which cosmos.tf makes). Keys are disabled on the
# account, so this is the only way in.
resource "azurerm_cosmosdb_sql_role_assignment" "app" {
  resource_group_name = azurerm_resource_group.this.name
  account_name        = azurerm_cosmosdb_account.this.name
  role_definition_id  = "${azurerm_cosmosdb_account.this.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002"
  principal_id        = azurerm_user_assigned_identity.app.principal_id
  scope               = azurerm_cosmosdb_account.this.id
}

# Remediation writes (pkg/remediate), granted only when enable_remediation is on:
# storage SKU, TLS and encryption; Cosmos DB regions and TLS; SQL TLS, failover
# groups and replication links; the JIT rules of network security groups; PIM
# role assignments past their schedule; tags on resources outside the allowed
# regions.
locals {
  remediation_roles = [
    "Storage Account Contributor",
    "DocumentDB Account Contributor",
    "SQL Server Contributor",
    "Network Contributor",
    "Tag Contributor",
    "Role Based Access Control Administrator",
  ]
  # Role Based Access Control Administrator may create role assignments; this
  # condition takes that away and leaves deleting them, all remediation needs.
  rbac_delete_only_condition = "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})))"
}

resource "azurerm_role_assignment" "remediation" {
  for_each             = var.enable_remediation ? toset(local.remediation_roles) : toset([])
  scope                = local.guarded_scope
  role_definition_name = each.value
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
  description          = "exportguard remediation"
  condition_version    = each.value == "Role Based Access Control Administrator" ? "2.0" : null
  condition            = each.value == "Role Based Access Control Administrator" ? local.rbac_delete_only_condition : null
}

# People or pipelines who record sessions from the hub and publish sessions to it.
resource "azurerm_role_assignment" "operator_receiver" {
  for_each             = toset(var.operator_object_ids)
  scope                = azurerm_eventhub.activity_log.id
  role_definition_name = "Azure Event Hubs Data Receiver"
  principal_id         = each.value
  description          = "exportguard record"
}

resource "azurerm_role_assignment" "operator_sender" {
  for_each             = toset(var.operator_object_ids)
  scope                = azurerm_eventhub.activity_log.id
  role_definition_name = "Azure Event Hubs Data Sender"
  principal_id         = each.value
  description          = "exportguard replay --to-eventhub"
}
