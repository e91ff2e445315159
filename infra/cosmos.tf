# The store (EXPORTGUARD_STORE=cosmos:...). Containers, partition keys and the
# ledger's time to live are exactly those of pkg/cosmos/doc.go ("Containers and
# partition keys", "Ledger TTL"): the app's identity holds data-plane rights only
# and cannot create them, and the store checks at start that each exists with
# its partition key.

resource "azurerm_cosmosdb_account" "this" {
  name                = local.names.cosmos
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  offer_type          = "Standard"
  kind                = "GlobalDocumentDB"

  local_authentication_disabled    = true # Entra ID only: no account keys in use
  minimal_tls_version              = "Tls12"
  automatic_failover_enabled       = false
  multiple_write_locations_enabled = false

  consistency_policy {
    consistency_level = "Session"
  }

  # One region: the guard's findings and audit trail replicate nowhere.
  geo_location {
    location          = azurerm_resource_group.this.location
    failover_priority = 0
  }

  backup {
    type                = "Periodic"
    interval_in_minutes = 240
    retention_in_hours  = 168
    storage_redundancy  = var.cosmos_backup_redundancy
  }

  tags = local.tags
}

resource "azurerm_cosmosdb_sql_database" "this" {
  name                = var.cosmos_database
  resource_group_name = azurerm_resource_group.this.name
  account_name        = azurerm_cosmosdb_account.this.name

  autoscale_settings {
    max_throughput = var.cosmos_max_throughput
  }
}

locals {
  # container => partition key path and default TTL (seconds; null: none).
  # The ledger forgets a processed event after 30 days (cosmos.DefaultLedgerTTL),
  # far beyond Event Grid's 24 hours of retries and Event Hubs' retention.
  cosmos_containers = {
    findings  = { partition_key = "/id", default_ttl = null }
    resources = { partition_key = "/id", default_ttl = null }
    ledger    = { partition_key = "/id", default_ttl = 2592000 }
    grants    = { partition_key = "/id", default_ttl = null }
    outbox    = { partition_key = "/id", default_ttl = null }
    poison    = { partition_key = "/id", default_ttl = null }
    audit     = { partition_key = "/bucket", default_ttl = null }
  }
}

resource "azurerm_cosmosdb_sql_container" "this" {
  for_each              = local.cosmos_containers
  name                  = each.key
  resource_group_name   = azurerm_resource_group.this.name
  account_name          = azurerm_cosmosdb_account.this.name
  database_name         = azurerm_cosmosdb_sql_database.this.name
  partition_key_paths   = [each.value.partition_key]
  partition_key_version = 2
  default_ttl           = each.value.default_ttl
}
