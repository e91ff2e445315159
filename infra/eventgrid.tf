# The fast path: Event Grid resource events from the subscription, filtered to
# the operations the rules judge, pushed to the resourceevents function
# (functions/resourceevents, an eventGridTrigger). The Activity Log through
# Event Hubs sees every operation too, a minute or more later; the ledger
# handles one operation seen by both once.

resource "azurerm_eventgrid_system_topic" "subscription" {
  name                = local.names.system_topic
  resource_group_name = azurerm_resource_group.this.name
  location            = "global" # subscription topics are global
  source_resource_id  = data.azurerm_subscription.current.id
  topic_type          = "Microsoft.Resources.Subscriptions"

  # Dead-lettering writes with this identity.
  identity {
    type = "SystemAssigned"
  }
  tags = local.tags
}

locals {
  # Operation prefixes (data.operationName; Event Grid compares them without
  # regard to case) of the resource types the rules judge: residency and
  # replication, encryption at rest, transit, JIT and PIM access.
  resourceevents_operations = [
    "Microsoft.Storage/storageAccounts",
    "Microsoft.DocumentDB/databaseAccounts",
    "Microsoft.Sql/servers",
    "Microsoft.Compute/disks",
    "Microsoft.Compute/diskEncryptionSets",
    "Microsoft.KeyVault/vaults",
    "Microsoft.Network/networkSecurityGroups",
    "Microsoft.Network/networkInterfaces",
    "Microsoft.Security/locations/jitNetworkAccessPolicies",
    "Microsoft.Authorization/roleAssignments",
    "Microsoft.Authorization/roleAssignmentSchedules",
    "Microsoft.Authorization/roleAssignmentScheduleRequests",
  ]
  resourceevents_function_id = "${azurerm_linux_function_app.this.id}/functions/resourceevents"
}

# Undeliverable events (the function down for longer than the retry policy) are
# kept here rather than lost.
resource "azurerm_storage_container" "deadletter" {
  name                  = "eventgrid-deadletter"
  storage_account_id    = azurerm_storage_account.host.id
  container_access_type = "private"
}

resource "azurerm_role_assignment" "eventgrid_deadletter" {
  scope                = azurerm_storage_account.host.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_eventgrid_system_topic.subscription.identity[0].principal_id
  principal_type       = "ServicePrincipal"
  description          = "Event Grid dead-letters exportguard's undelivered resource events"
}

resource "azurerm_eventgrid_system_topic_event_subscription" "resourceevents" {
  count               = var.subscribe_resourceevents ? 1 : 0
  name                = local.names.eventgrid_target
  system_topic        = azurerm_eventgrid_system_topic.subscription.name
  resource_group_name = azurerm_resource_group.this.name

  event_delivery_schema = "EventGridSchema"
  azure_function_endpoint {
    function_id                       = local.resourceevents_function_id
    max_events_per_batch              = 1
    preferred_batch_size_in_kilobytes = 64
  }

  included_event_types = [
    "Microsoft.Resources.ResourceWriteSuccess",
    "Microsoft.Resources.ResourceDeleteSuccess",
    "Microsoft.Resources.ResourceActionSuccess",
  ]
  advanced_filter {
    string_begins_with {
      key    = "data.operationName"
      values = local.resourceevents_operations
    }
  }

  retry_policy {
    max_delivery_attempts = 30
    event_time_to_live    = 1440
  }
  dead_letter_identity {
    type = "SystemAssigned"
  }
  storage_blob_dead_letter_destination {
    storage_account_id          = azurerm_storage_account.host.id
    storage_blob_container_name = azurerm_storage_container.deadletter.name
  }

  depends_on = [azurerm_role_assignment.eventgrid_deadletter]
}

# Key Vaults holding customer-managed keys (var.watched_key_vaults): their key
# events come from each vault's own system topic, of type Microsoft.KeyVault.vaults
# (https://registry.terraform.io/providers/hashicorp/azurerm/latest/docs/resources/eventgrid_system_topic),
# and name the event types of https://learn.microsoft.com/azure/event-grid/event-schema-key-vault.
# Key Vault sends KeyNearExpiry 30 days before expiry, or as the key's rotation
# policy says; pkg/eventgrid decodes these three and ignores every other Key
# Vault event. The resource types and event types are the same in Azure
# Government (Event Grid and Key Vault are both offered there); azurerm's
# usgovernment environment reaches them at management.usgovcloudapi.net.
#
# A vault has at most one system topic. A vault that already has one (the
# portal's Events blade makes one) names it in existing_system_topic, and the
# subscription is made on that topic instead of a new one.
resource "azurerm_eventgrid_system_topic" "key_vault" {
  for_each            = { for k, v in var.watched_key_vaults : k => v if v.existing_system_topic == null }
  name                = "egst-${var.name}-kv-${each.key}"
  resource_group_name = azurerm_resource_group.this.name
  location            = each.value.location # a vault's topic is in the vault's region
  source_resource_id  = each.value.id
  topic_type          = "Microsoft.KeyVault.vaults"

  # Dead-lettering writes with this identity.
  identity {
    type = "SystemAssigned"
  }
  tags = local.tags
}

data "azurerm_eventgrid_system_topic" "key_vault" {
  for_each            = { for k, v in var.watched_key_vaults : k => v.existing_system_topic if v.existing_system_topic != null }
  name                = each.value.name
  resource_group_name = each.value.resource_group_name
}

locals {
  # Each watched vault's topic, made here or found: where to subscribe, and the
  # identity its dead letters are written with.
  key_vault_topics = merge(
    { for k, t in azurerm_eventgrid_system_topic.key_vault : k => {
      name                = t.name
      resource_group_name = t.resource_group_name
      principal_id        = t.identity[0].principal_id
    } },
    { for k, t in data.azurerm_eventgrid_system_topic.key_vault : k => {
      name                = t.name
      resource_group_name = t.resource_group_name
      principal_id        = one([for i in t.identity : i.principal_id if i.principal_id != ""])
    } },
  )
  # Exactly the events rule keyvault.key judges (pkg/eventgrid/keyvault.go).
  key_vault_event_types = [
    "Microsoft.KeyVault.KeyNearExpiry",
    "Microsoft.KeyVault.KeyExpired",
    "Microsoft.KeyVault.KeyNewVersionCreated",
  ]
}

resource "azurerm_role_assignment" "eventgrid_deadletter_key_vault" {
  for_each             = var.watched_key_vaults
  scope                = azurerm_storage_account.host.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = local.key_vault_topics[each.key].principal_id
  principal_type       = "ServicePrincipal"
  description          = "Event Grid dead-letters exportguard's undelivered key events"

  lifecycle {
    precondition {
      condition     = local.key_vault_topics[each.key].principal_id != null
      error_message = "The existing system topic of watched_key_vaults[\"${each.key}\"] has no system-assigned identity to dead-letter with: az eventgrid system-topic update --identity systemassigned."
    }
  }
}

resource "azurerm_eventgrid_system_topic_event_subscription" "key_vault" {
  for_each            = var.subscribe_resourceevents ? var.watched_key_vaults : {}
  name                = "exportguard-keyvault-${each.key}"
  system_topic        = local.key_vault_topics[each.key].name
  resource_group_name = local.key_vault_topics[each.key].resource_group_name

  event_delivery_schema = "EventGridSchema"
  azure_function_endpoint {
    function_id                       = local.resourceevents_function_id
    max_events_per_batch              = 1
    preferred_batch_size_in_kilobytes = 64
  }
  included_event_types = local.key_vault_event_types

  retry_policy {
    max_delivery_attempts = 30
    event_time_to_live    = 1440
  }
  dead_letter_identity {
    type = "SystemAssigned"
  }
  storage_blob_dead_letter_destination {
    storage_account_id          = azurerm_storage_account.host.id
    storage_blob_container_name = azurerm_storage_container.deadletter.name
  }

  depends_on = [azurerm_role_assignment.eventgrid_deadletter_key_vault]
}
