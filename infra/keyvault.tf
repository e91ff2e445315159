# Key Vault for the webhook URLs (Teams, Slack, CloudEvents webhook): secrets,
# since a webhook URL is its own credential. The app settings reference them
# (@Microsoft.KeyVault(SecretUri=...)), resolved by the platform with the app's
# identity; the policy file names the settings (notify.teams.url: env:EXPORTGUARD_TEAMS_URL).

resource "azurerm_key_vault" "this" {
  name                          = local.names.key_vault
  resource_group_name           = azurerm_resource_group.this.name
  location                      = azurerm_resource_group.this.location
  tenant_id                     = data.azurerm_client_config.current.tenant_id
  sku_name                      = "standard"
  rbac_authorization_enabled    = true
  soft_delete_retention_days    = 7
  purge_protection_enabled      = false
  public_network_access_enabled = true
  tags                          = local.tags
}

# Whoever runs Terraform writes the secrets.
resource "azurerm_role_assignment" "deployer_secrets_officer" {
  scope                = azurerm_key_vault.this.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = data.azurerm_client_config.current.object_id
  description          = "Terraform writes exportguard's webhook URLs"
}

locals {
  # notify_webhook_urls key => the app setting the policy reads with env:NAME.
  notify_settings = {
    teams   = "EXPORTGUARD_TEAMS_URL"
    slack   = "EXPORTGUARD_SLACK_URL"
    webhook = "EXPORTGUARD_WEBHOOK_URL"
  }
  # Which targets are configured is not a secret; their URLs are.
  notify_targets = nonsensitive(toset(keys(var.notify_webhook_urls)))
}

resource "azurerm_key_vault_secret" "notify" {
  for_each     = local.notify_targets
  name         = "${each.key}-webhook-url"
  value        = var.notify_webhook_urls[each.key]
  key_vault_id = azurerm_key_vault.this.id
  content_type = "text/uri-list"

  depends_on = [azurerm_role_assignment.deployer_secrets_officer]
}

locals {
  notify_app_settings = {
    for target, secret in azurerm_key_vault_secret.notify :
    local.notify_settings[target] => "@Microsoft.KeyVault(SecretUri=${secret.versionless_id})"
  }
}
