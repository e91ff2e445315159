# exportguard: everything a deployment needs, in one resource group, for the
# public cloud or Azure Government (var.cloud). See README.md for the order of
# deployment and for what Terraform cannot do for you.
#
#   main.tf        provider, clouds, names, resource group
#   identity.tf    the app's user-assigned identity and every role it holds
#   entra.tf       the Entra application App Service authentication signs callers
#                  in with, its app roles (ExportGuard.Reader, .Approver), assignments
#   functionapp.tf host storage, plan and the Linux Function App (custom handler)
#   eventhubs.tf   Event Hubs namespace, hub, consumer groups, and the subscription's
#                  diagnostic setting streaming the Administrative Activity Log there
#   eventgrid.tf   Event Grid system topics on the subscription and on the watched
#                  Key Vaults -> resourceevents
#   cosmos.tf      Cosmos DB account, database and containers (pkg/cosmos/doc.go)
#   keyvault.tf    Key Vault holding the webhook URLs the app settings reference
#   monitoring.tf  Log Analytics and Application Insights

terraform {
  required_version = ">= 1.9"
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.50"
    }
    azuread = {
      source  = "hashicorp/azuread"
      version = "~> 3.0"
    }
  }
}

provider "azurerm" {
  features {
    key_vault {
      # Soft-deleted secrets stay recoverable; purge them by hand if you must.
      purge_soft_delete_on_destroy = false
    }
  }
  subscription_id = var.subscription_id
  environment     = local.cloud.azurerm_environment
  # The host storage account allows no shared keys: Terraform talks to its data
  # plane with Entra ID too.
  storage_use_azuread = true
}

# The Entra application of App Service authentication (entra.tf), in the same
# cloud as everything else; the tenant is the signed-in one.
provider "azuread" {
  environment = local.cloud.azurerm_environment # azuread accepts "public" and "usgovernment" too
}

data "azurerm_client_config" "current" {}

# The subscription the guard is deployed in and watches: its Activity Log, its
# resource events, and (by default) the scope it reads.
data "azurerm_subscription" "current" {}

locals {
  # What differs between the clouds. Azure Government has its own ARM, sign-in,
  # Event Hubs and App Service endpoints; azurerm picks ARM and sign-in from
  # `environment`, the rest is here.
  clouds = {
    AzureCloud = {
      azurerm_environment = "public"
      servicebus_suffix   = "servicebus.windows.net"
      websites_suffix     = "azurewebsites.net"
      login_host          = "login.microsoftonline.com"
    }
    AzureUSGovernment = {
      azurerm_environment = "usgovernment"
      servicebus_suffix   = "servicebus.usgovcloudapi.net"
      websites_suffix     = "azurewebsites.us"
      login_host          = "login.microsoftonline.us"
    }
  }
  cloud = local.clouds[var.cloud]

  # What the guard reads (Reader) and, with remediation on, may fix.
  guarded_scope = var.guarded_scope != "" ? var.guarded_scope : data.azurerm_subscription.current.id

  names = {
    resource_group   = "rg-${var.name}"
    identity         = "id-${var.name}"
    storage          = "st${var.name}fn"
    plan             = "asp-${var.name}"
    function_app     = "func-${var.name}"
    eventhub_ns      = "evhns-${var.name}"
    cosmos           = "cosmos-${var.name}"
    key_vault        = "kv-${var.name}"
    log_analytics    = "log-${var.name}"
    app_insights     = "appi-${var.name}"
    system_topic     = "egst-${var.name}-subscription"
    eventgrid_target = "exportguard-resourceevents"
  }

  eventhub_fqdn = "${azurerm_eventhub_namespace.this.name}.${local.cloud.servicebus_suffix}"

  tags = merge({ application = "exportguard" }, var.tags)
}

resource "azurerm_resource_group" "this" {
  name     = local.names.resource_group
  location = var.location
  tags     = local.tags
}
