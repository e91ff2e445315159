# The store (EXPORTGUARD_STORE=cosmos:...). Containers, partition keys and the
# indexing policy are exactly those of pkg/cosmos/doc.go ("Containers and
# partition keys") and pkg/cosmos/containers.go: the app's identity holds
# data-plane rights only and cannot create them, and the store checks at start
# that each exists with its partition key. A database made by a version before
# partitions (containers findings, resources, ledger, outbox, audit) is refused:
# copy it with `exportguard store migrate --from URL --to URL` (README).

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
  # container => partition key path, and the paths left out of the index (the
  # bulky parts of a partition's documents that no query filters on; writing
  # them then costs no index updates). No container expires documents: a
  # partition forgets processed events itself (cosmos.DefaultLedgerTTL, 30 days).
  cosmos_containers = {
    partitions = { partition_key = "/pk", excluded_paths = ["/resources/*", "/findings/*", "/seen/*", "/record/*", "/data/?", "/item/*"] }
    grants     = { partition_key = "/id", excluded_paths = [] }
    poison     = { partition_key = "/id", excluded_paths = [] }
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

  indexing_policy {
    indexing_mode = "consistent"
    included_path {
      path = "/*"
    }
    dynamic "excluded_path" {
      for_each = concat(each.value.excluded_paths, ["/\"_etag\"/?"])
      content {
        path = excluded_path.value
      }
    }
  }
}
