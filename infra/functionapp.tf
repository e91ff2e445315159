# The Functions host: its storage account, a dedicated Linux plan, and the
# function app running exportguard as a custom handler (host.json starts
# `exportguard serve`; make package stages host.json, functions/ and the binary).

resource "azurerm_storage_account" "host" {
  name                     = local.names.storage
  resource_group_name      = azurerm_resource_group.this.name
  location                 = azurerm_resource_group.this.location
  account_kind             = "StorageV2"
  account_tier             = "Standard"
  account_replication_type = "LRS" # the guard's own state stays in its region
  min_tls_version          = "TLS1_2"

  https_traffic_only_enabled      = true
  shared_access_key_enabled       = false # identity only (AzureWebJobsStorage__credential)
  default_to_oauth_authentication = true
  allow_nested_items_to_be_public = false

  tags = local.tags
}

resource "azurerm_service_plan" "this" {
  name                = local.names.plan
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  os_type             = "Linux"
  sku_name            = var.plan_sku
  tags                = local.tags
}

locals {
  function_app_hostname = "${local.names.function_app}.${local.cloud.websites_suffix}"

  # The settings the handler and its bindings read (local.settings.sample.json
  # lists the same names for func start).
  app_settings = {
    # A custom handler. Not site_config.application_stack.use_custom_runtime:
    # azurerm refuses FUNCTIONS_WORKER_RUNTIME in app_settings with a stack set.
    FUNCTIONS_WORKER_RUNTIME = "custom"
    WEBSITE_RUN_FROM_PACKAGE = "1"

    # Host storage with the user-assigned identity (no keys).
    AzureWebJobsStorage__credential = "managedidentity"
    AzureWebJobsStorage__clientId   = azurerm_user_assigned_identity.app.client_id

    # The activitylog function's trigger (functions/activitylog/function.json:
    # connection ActivityLogEventHub, %ActivityLogEventHubName%, %ActivityLogConsumerGroup%).
    ActivityLogEventHub__fullyQualifiedNamespace = local.eventhub_fqdn
    ActivityLogEventHub__credential              = "managedidentity"
    ActivityLogEventHub__clientId                = azurerm_user_assigned_identity.app.client_id
    ActivityLogEventHubName                      = azurerm_eventhub.activity_log.name
    ActivityLogConsumerGroup                     = azurerm_eventhub_consumer_group.function.name

    # exportguard serve.
    AZURE_CLIENT_ID        = azurerm_user_assigned_identity.app.client_id
    EXPORTGUARD_STORE      = "cosmos:${azurerm_cosmosdb_account.this.endpoint}?database=${azurerm_cosmosdb_sql_database.this.name}"
    EXPORTGUARD_POLICY     = var.policy_file == "" ? "" : "/home/site/wwwroot/${var.policy_file}"
    EXPORTGUARD_LOG_LEVEL  = var.log_level
    EXPORTGUARD_PUBLIC_URL = "https://${local.function_app_hostname}"
    # The api accepts principals of this tenant only (pkg/functions/authz.go).
    AZURE_TENANT_ID = data.azurerm_client_config.current.tenant_id
  }
}

resource "azurerm_linux_function_app" "this" {
  name                = local.names.function_app
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  service_plan_id     = azurerm_service_plan.this.id

  storage_account_name          = azurerm_storage_account.host.name
  storage_uses_managed_identity = true

  functions_extension_version                    = "~4"
  https_only                                     = true
  builtin_logging_enabled                        = false # AzureWebJobsDashboard needs a storage key
  ftp_publish_basic_authentication_enabled       = false
  webdeploy_publish_basic_authentication_enabled = var.publishing_basic_auth
  zip_deploy_file                                = var.zip_deploy_file != "" ? var.zip_deploy_file : null

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.app.id]
  }
  key_vault_reference_identity_id = azurerm_user_assigned_identity.app.id

  site_config {
    always_on                              = true # the Event Hubs and timer triggers on a dedicated plan
    ftps_state                             = "Disabled"
    minimum_tls_version                    = "1.2"
    scm_minimum_tls_version                = "1.2"
    http2_enabled                          = true
    health_check_path                      = "/api/health"
    health_check_eviction_time_in_min      = 10
    application_insights_connection_string = azurerm_application_insights.this.connection_string
  }

  app_settings = merge(local.app_settings, local.notify_app_settings)

  # App Service authentication with Entra ID in front of every HTTP function:
  # it signs callers in (entra.tf's application), passes the principal to the
  # handler in X-MS-CLIENT-PRINCIPAL and sets WEBSITE_AUTH_ENABLED=True, without
  # which the api and dashboard functions refuse every call. Unauthenticated
  # calls get 401 (browsers sign in at /.auth/login/aad). Excluded: the health
  # probe, and Event Grid's deliveries to resourceevents, which carry the
  # function's system key rather than an Entra token.
  # https://registry.terraform.io/providers/hashicorp/azurerm/latest/docs/resources/linux_function_app#auth_settings_v2
  auth_settings_v2 {
    auth_enabled           = true
    require_authentication = true
    unauthenticated_action = "Return401"
    default_provider       = "azureactivedirectory"
    excluded_paths         = ["/api/health", "/runtime/webhooks/eventgrid"]
    require_https          = true

    active_directory_v2 {
      client_id            = azuread_application.api.client_id
      tenant_auth_endpoint = "https://${local.cloud.login_host}/${data.azurerm_client_config.current.tenant_id}/v2.0/"
    }

    login {
      token_store_enabled = false # the handler needs the principal, not the caller's tokens
    }
  }

  tags = local.tags

  lifecycle {
    precondition {
      condition     = var.cloud != "AzureUSGovernment" || var.policy_file != ""
      error_message = "Azure Government needs a policy file with cloud: AzureUSGovernment (set policy_file and ship it in the package): the built-in policy is AzureCloud's."
    }
    precondition {
      condition     = var.zip_deploy_file == "" || var.publishing_basic_auth
      error_message = "zip_deploy_file deploys with the publishing profile: set publishing_basic_auth = true too, or deploy the zip yourself."
    }
  }

  # The host needs its storage roles before it starts, and the trigger its hub role.
  depends_on = [
    azurerm_role_assignment.host_storage,
    azurerm_role_assignment.eventhub_receiver,
    azurerm_role_assignment.keyvault_secrets_user,
    azurerm_cosmosdb_sql_role_assignment.app,
  ]
}
