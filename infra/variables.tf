variable "subscription_id" {
  description = "The subscription to deploy to and to guard (its Activity Log and resource events)."
  type        = string
}

variable "cloud" {
  description = "AzureCloud (public) or AzureUSGovernment. Must match the policy file's `cloud`."
  type        = string
  default     = "AzureCloud"
  validation {
    condition     = contains(["AzureCloud", "AzureUSGovernment"], var.cloud)
    error_message = "cloud must be AzureCloud or AzureUSGovernment."
  }
}

variable "location" {
  description = "Region for every resource. In Azure Government: usgovvirginia, usgovtexas, usgovarizona (or a DoD region)."
  type        = string
  default     = "eastus"
  validation {
    # The guard keeps its own data (findings, audit trail) in the region given:
    # in Azure Government that must be a Government region.
    condition     = var.cloud != "AzureUSGovernment" || can(regex("^usgov|^usdod", var.location))
    error_message = "With cloud = AzureUSGovernment, location must be a US Gov or US DoD region (e.g. usgovvirginia)."
  }
  validation {
    condition     = var.cloud != "AzureCloud" || !can(regex("^usgov|^usdod", var.location))
    error_message = "A US Gov region needs cloud = AzureUSGovernment."
  }
}

variable "name" {
  description = "Short unique name (3-16 lowercase letters and digits) all resource names derive from; storage, Key Vault, Cosmos DB, Event Hubs and the function app need globally unique names."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9]{2,15}$", var.name))
    error_message = "name must be 3-16 lowercase letters and digits, starting with a letter."
  }
}

variable "guarded_scope" {
  description = "Scope the guard reads (Reader) and, with remediation enabled, may change: a subscription or resource group ID. Defaults to the deployment subscription."
  type        = string
  default     = ""
}

variable "plan_sku" {
  description = "App Service plan SKU (Linux, dedicated: the Event Hubs and timer triggers run with Always On, and host storage is reached with the managed identity alone)."
  type        = string
  default     = "P0v3"
  validation {
    condition     = can(regex("^(B[1-3]|S[1-3]|P[0-3]v[23]|P[1-5]mv3)$", var.plan_sku))
    error_message = "plan_sku must be a dedicated Linux SKU: B1-B3, S1-S3, P0v3-P3v3, P1v2-P3v2 or P1mv3-P5mv3."
  }
}

variable "eventhub_name" {
  description = "The hub the diagnostic setting streams the Activity Log to (ActivityLogEventHubName)."
  type        = string
  default     = "insights-activity-logs"
}

variable "eventhub_partitions" {
  description = "Partitions of the Activity Log hub."
  type        = number
  default     = 4
}

variable "eventhub_retention_days" {
  description = "Days the hub keeps messages (1-7 on Standard): how far back exportguard record --since can go."
  type        = number
  default     = 7
}

variable "cosmos_database" {
  description = "Cosmos DB database name (EXPORTGUARD_STORE ?database=)."
  type        = string
  default     = "exportguard"
}

variable "cosmos_max_throughput" {
  description = "Autoscale maximum RU/s shared by the database's containers."
  type        = number
  default     = 1000
}

variable "cosmos_backup_redundancy" {
  description = "Redundancy of Cosmos DB's periodic backups: Local keeps the guard's own records in its region."
  type        = string
  default     = "Local"
  validation {
    condition     = contains(["Local", "Zone", "Geo"], var.cosmos_backup_redundancy)
    error_message = "cosmos_backup_redundancy must be Local, Zone or Geo."
  }
}

variable "policy_file" {
  description = "Name of the policy file shipped in the package (copied into dist/ before the zip is made), e.g. policy.yaml; empty for the built-in default policy (AzureCloud only)."
  type        = string
  default     = ""
}

variable "log_level" {
  description = "EXPORTGUARD_LOG_LEVEL: debug, info, warn or error."
  type        = string
  default     = "info"
  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be debug, info, warn or error."
  }
}

variable "notify_webhook_urls" {
  description = "Webhook URLs by target (teams, slack, webhook), kept in Key Vault; the app settings EXPORTGUARD_TEAMS_URL, EXPORTGUARD_SLACK_URL and EXPORTGUARD_WEBHOOK_URL reference them, and the policy names them as env:EXPORTGUARD_TEAMS_URL etc."
  type        = map(string)
  default     = {}
  sensitive   = true
  validation {
    condition     = alltrue([for k, v in var.notify_webhook_urls : contains(["teams", "slack", "webhook"], k) && startswith(v, "https://")])
    error_message = "notify_webhook_urls keys must be teams, slack or webhook, and every URL must be https://."
  }
}

variable "enable_remediation" {
  description = "Grant the identity the roles remediation writes with (Storage Account Contributor, Network Contributor, Role Based Access Control Administrator limited to deletions, ...) on the guarded scope. Off: the guard can only read."
  type        = bool
  default     = false
}

variable "subscribe_resourceevents" {
  description = "Create the Event Grid subscription to the resourceevents function. Event Grid checks that the function exists, so the first apply needs the code deployed (zip_deploy_file), or is made with this false, then true after the zip deploy."
  type        = bool
  default     = true
}

variable "zip_deploy_file" {
  description = "Path of a zip of dist/ (make package) for Terraform to deploy; empty to deploy it yourself (az functionapp deployment source config-zip)."
  type        = string
  default     = ""
}

variable "publishing_basic_auth" {
  description = "Allow basic-auth publishing credentials on the SCM site (needed by zip_deploy_file and by tools that cannot deploy with Entra ID). Off by default."
  type        = bool
  default     = false
}

variable "operator_object_ids" {
  description = "Object IDs of people or pipelines who run exportguard record (Event Hubs Data Receiver) and replay --to-eventhub (Data Sender) against the hub."
  type        = list(string)
  default     = []
}

variable "watched_key_vaults" {
  description = "Key Vaults holding customer-managed keys, by a short name (letters, digits, hyphens): their key events (near expiry, expired, new version) go to resourceevents. Each needs its resource ID and location (the vault's region). A vault has at most one Event Grid system topic: if it already has one, give its name and resource group (in the deployment subscription, with a system-assigned identity) as existing_system_topic, and the subscription is made there."
  type = map(object({
    id       = string
    location = string
    existing_system_topic = optional(object({
      name                = string
      resource_group_name = string
    }))
  }))
  default = {}
  validation {
    condition = alltrue([for k, v in var.watched_key_vaults :
      can(regex("^[A-Za-z0-9-]{1,24}$", k)) &&
      can(regex("(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\\.KeyVault/vaults/[^/]+$", v.id)) &&
      v.location != ""
    ])
    error_message = "watched_key_vaults: each key 1-24 letters, digits or hyphens; each id a Key Vault resource ID (/subscriptions/…/providers/Microsoft.KeyVault/vaults/NAME); each location the vault's region."
  }
}

variable "log_retention_days" {
  description = "Log Analytics retention."
  type        = number
  default     = 90
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "api_reader_object_ids" {
  description = "Object IDs of users or groups given the app role ExportGuard.Reader (read findings, plans and the dashboard). Roles can also be assigned in the portal: Enterprise applications, exportguard-<name>, Users and groups."
  type        = list(string)
  default     = []
}

variable "api_approver_object_ids" {
  description = "Object IDs of users or groups given the app role ExportGuard.Approver (also approve or deny remediations)."
  type        = list(string)
  default     = []
}
