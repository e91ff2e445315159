package guard

// ARM resource types that both the rules (which judge them) and the
// remediation engine (which writes to them) name: one spelling, here at the
// centre both import. ARM compares types without case; so does every user of
// these (TypeOf and strings.EqualFold).
const (
	TypeStorageAccount     = "Microsoft.Storage/storageAccounts"
	TypeCosmosAccount      = "Microsoft.DocumentDB/databaseAccounts"
	TypeSQLServer          = "Microsoft.Sql/servers"
	TypeSQLFailoverGroup   = "Microsoft.Sql/servers/failoverGroups"
	TypeSQLReplicationLink = "Microsoft.Sql/servers/databases/replicationLinks"
	// TypeRoleAssignment is an Azure RBAC role assignment (research §4.6, S17, api 2022-04-01).
	TypeRoleAssignment = "Microsoft.Authorization/roleAssignments"
)
