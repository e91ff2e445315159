# Who may use the api and dashboard functions. App Service authentication signs
# callers in with this Entra application; the app itself then decides what
# they may do from the app roles in their token (DESIGN 3.7,
# pkg/functions/authz.go): ExportGuard.Reader reads findings, plans and the
# dashboard; ExportGuard.Approver also approves or denies remediations.
# Assignment is required on the enterprise application, so Entra ID issues no
# token for the app to anyone an administrator has not assigned a role.
#
# azuread provider 3.x: azuread_application app_role, azuread_service_principal
# app_role_assignment_required, azuread_app_role_assignment
# (https://registry.terraform.io/providers/hashicorp/azuread/latest/docs).

data "azuread_client_config" "current" {}

resource "azuread_application" "api" {
  display_name     = "exportguard-${var.name}"
  sign_in_audience = "AzureADMyOrg"
  owners           = [data.azuread_client_config.current.object_id]

  api {
    # v2.0 tokens: issuer login.microsoftonline.*/{tenant}/v2.0, as
    # auth_settings_v2's tenant_auth_endpoint expects; audience the client ID.
    requested_access_token_version = 2
  }

  # The role IDs are fixed: an assignment names the role by ID, and a new ID
  # would orphan every assignment made in the portal.
  app_role {
    allowed_member_types = ["User", "Application"] # people, and reporting jobs that only read
    description          = "Read exportguard findings, remediation plans and the dashboard."
    display_name         = "exportguard reader"
    enabled              = true
    id                   = "b05f1da9-5d53-40dc-a449-23cc9e046913"
    value                = "ExportGuard.Reader"
  }

  app_role {
    allowed_member_types = ["User"] # a person decides a remediation
    description          = "Read exportguard findings, and approve or deny the remediations that wait for a person."
    display_name         = "exportguard approver"
    enabled              = true
    id                   = "6933f013-9749-49bd-8137-36227bc78c37"
    value                = "ExportGuard.Approver"
  }

  web {
    # App Service authentication's sign-in callback for browsers (the
    # dashboard, the approve and deny links in Teams and Slack cards).
    redirect_uris = ["https://${local.function_app_hostname}/.auth/login/aad/callback"]
    implicit_grant {
      # No client secret is configured: App Service signs browsers in with the
      # OpenID Connect implicit flow (an ID token).
      id_token_issuance_enabled = true
    }
  }
}

# The enterprise application: only principals assigned a role get a token.
resource "azuread_service_principal" "api" {
  client_id                    = azuread_application.api.client_id
  app_role_assignment_required = true
  owners                       = [data.azuread_client_config.current.object_id]
}

# Role assignments kept in Terraform (object IDs of users or groups; the
# README says how to assign them in the portal or with az rest instead).
resource "azuread_app_role_assignment" "api_reader" {
  for_each            = toset(var.api_reader_object_ids)
  app_role_id         = azuread_application.api.app_role_ids["ExportGuard.Reader"]
  principal_object_id = each.value
  resource_object_id  = azuread_service_principal.api.object_id
}

resource "azuread_app_role_assignment" "api_approver" {
  for_each            = toset(var.api_approver_object_ids)
  app_role_id         = azuread_application.api.app_role_ids["ExportGuard.Approver"]
  principal_object_id = each.value
  resource_object_id  = azuread_service_principal.api.object_id
}
