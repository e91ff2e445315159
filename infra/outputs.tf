output "resource_group_name" {
  value = azurerm_resource_group.this.name
}

output "function_app_name" {
  description = "For az functionapp deployment source config-zip --name."
  value       = azurerm_linux_function_app.this.name
}

output "function_app_url" {
  value = "https://${azurerm_linux_function_app.this.default_hostname}"
}

output "identity_client_id" {
  description = "The app's user-assigned identity (AZURE_CLIENT_ID)."
  value       = azurerm_user_assigned_identity.app.client_id
}

output "identity_principal_id" {
  value = azurerm_user_assigned_identity.app.principal_id
}

output "eventhub" {
  description = "NAMESPACE/HUB for exportguard record --eventhub and replay --to-eventhub."
  value       = "${local.eventhub_fqdn}/${azurerm_eventhub.activity_log.name}"
}

output "record_consumer_group" {
  description = "The consumer group kept for exportguard record."
  value       = azurerm_eventhub_consumer_group.record.name
}

output "store_url" {
  description = "EXPORTGUARD_STORE, for exportguard audit verify --store from a machine whose identity holds a Cosmos DB data role."
  value       = local.app_settings.EXPORTGUARD_STORE
}

output "key_vault_uri" {
  value = azurerm_key_vault.this.vault_uri
}

output "resourceevents_subscribed" {
  description = "Whether the Event Grid subscription exists (see subscribe_resourceevents)."
  value       = var.subscribe_resourceevents
}
