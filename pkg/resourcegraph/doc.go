// Package resourcegraph is exportguard's one reader of Azure Resource Graph: the
// baseline scan and the daily reconcile read every resource of the judged types
// in the scope's subscriptions through it, a page of up to 1,000 rows per
// request and many subscriptions per query, instead of one ARM GET per resource
// (DESIGN 3.1). Events tell the guard what changed; this tells it what exists,
// including what was there before the guard was installed.
//
// A row is a state like a Resource Notifications payload, not like an ARM read:
// Resource Graph is a cache that ARM notifies and that re-reads resources with
// the newest stable api-version of each provider, so it may lag behind ARM, may
// lack a property the rules' pinned api-version returns, and scrubs what it
// takes for personal data. Each row is therefore handed on as a guard.Resource
// with FromEvent set: it may open a finding or keep one open, but a resolution
// it suggests waits for an ARM read, and it never replaces a state ARM answered
// nor grounds a remediation (DESIGN 3.6).
//
// What a row becomes: the query projects the columns an ARM GET body has (id,
// name, type, location, kind, sku, identity, tags, properties, managedBy, plan,
// zones, extendedLocation) and each row is rebuilt as that JSON object, without
// Resource Graph's own columns (tenantId, resourceGroup, subscriptionId) and
// without empty values. Resource Graph spells the type in lower case; the body
// and the guard.Resource take the type as the resource ID spells it.
//
// Some types the rules judge are in no Resource Graph table (a SQL server's
// encryptionProtector, a storage account's blobServices, Key Vault keys, JIT
// policies, PIM schedules, subnets): Scan never asks for them and lists them in
// Stats.NotInGraph, for the caller to read from ARM (the SQL server's rule
// gathers its protector through ARM when the server's row is judged).
//
// Resource Graph answers a query for the subscriptions the caller may read and
// silently leaves out the others. Every query therefore also asks for the
// subscriptions' own rows, and Stats.Unseen names each subscription Resource
// Graph did not show: its resources are not in the result, and nothing may be
// taken as deleted because a scan did not list it there. Those rows also give
// each subscription's display name (Stats.Names), which the report shows.
package resourcegraph
