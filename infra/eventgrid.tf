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

# Key Vaults holding customer-managed keys: their key events (a key near expiry
# or expired, a new version) come from each vault's own topic.
resource "azurerm_eventgrid_system_topic" "key_vault" {
  for_each            = var.watched_key_vaults
  name                = "egst-${var.name}-kv-${each.key}"
  resource_group_name = azurerm_resource_group.this.name
  location            = each.value.location
  source_resource_id  = each.value.id
  topic_type          = "Microsoft.KeyVault.vaults"
  tags                = local.tags
}

resource "azurerm_eventgrid_system_topic_event_subscription" "key_vault" {
  for_each            = var.subscribe_resourceevents ? var.watched_key_vaults : {}
  name                = "exportguard-keyvault-${each.key}"
  system_topic        = azurerm_eventgrid_system_topic.key_vault[each.key].name
  resource_group_name = azurerm_resource_group.this.name

  event_delivery_schema = "EventGridSchema"
  azure_function_endpoint {
    function_id          = local.resourceevents_function_id
    max_events_per_batch = 1
  }
  included_event_types = [
    "Microsoft.KeyVault.KeyNewVersionCreated",
    "Microsoft.KeyVault.KeyNearExpiry",
    "Microsoft.KeyVault.KeyExpired",
  ]
  retry_policy {
    max_delivery_attempts = 30
    event_time_to_live    = 1440
  }
}
