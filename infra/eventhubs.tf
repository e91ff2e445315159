# The Activity Log path: a diagnostic setting on the subscription streams the
# Administrative category to an event hub, where the activitylog function's
# trigger (and exportguard record) read it.

resource "azurerm_eventhub_namespace" "this" {
  name                = local.names.eventhub_ns
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  sku                 = "Standard"
  capacity            = 1
  minimum_tls_version = "1.2"
  # Azure Monitor sends with the authorization rule below (a shared access
  # signature); everything else signs in with Entra ID.
  local_authentication_enabled  = true
  public_network_access_enabled = true
  tags                          = local.tags
}

resource "azurerm_eventhub" "activity_log" {
  name              = var.eventhub_name
  namespace_id      = azurerm_eventhub_namespace.this.id
  partition_count   = var.eventhub_partitions
  message_retention = var.eventhub_retention_days
}

# The function app's consumer group (ActivityLogConsumerGroup).
resource "azurerm_eventhub_consumer_group" "function" {
  name                = "exportguard"
  namespace_name      = azurerm_eventhub_namespace.this.name
  eventhub_name       = azurerm_eventhub.activity_log.name
  resource_group_name = azurerm_resource_group.this.name
}

# One for exportguard record, so that a recording never takes partitions from
# the function app.
resource "azurerm_eventhub_consumer_group" "record" {
  name                = "exportguard-record"
  namespace_name      = azurerm_eventhub_namespace.this.name
  eventhub_name       = azurerm_eventhub.activity_log.name
  resource_group_name = azurerm_resource_group.this.name
}

# What the diagnostic setting sends with: Azure Monitor needs Manage, Send and
# Listen on the namespace to stream the Activity Log.
resource "azurerm_eventhub_namespace_authorization_rule" "activity_log" {
  name                = "azure-monitor-activity-log"
  namespace_name      = azurerm_eventhub_namespace.this.name
  resource_group_name = azurerm_resource_group.this.name
  listen              = true
  send                = true
  manage              = true
}

resource "azurerm_monitor_diagnostic_setting" "activity_log" {
  name                           = "exportguard-activity-log"
  target_resource_id             = data.azurerm_subscription.current.id
  eventhub_name                  = azurerm_eventhub.activity_log.name
  eventhub_authorization_rule_id = azurerm_eventhub_namespace_authorization_rule.activity_log.id

  # Writes, deletes and actions on resources, role assignments included.
  enabled_log {
    category = "Administrative"
  }
}
