package guard

import "context"

// LegacyStore reads a store of the layout before partitions (issue 15), for
// `exportguard store migrate`: its findings, resources, outbox items and
// grants, and its single audit chain (records without a Partition, hashed as
// version 1), which the migration verifies and whose head it records in the
// first seal. Each store package offers one (sqlite.OpenLegacy,
// cosmos.OpenLegacy).
type LegacyStore interface {
	ListFindings(ctx context.Context) ([]Finding, error)
	ListResources(ctx context.Context) ([]Resource, error)
	// ListOutbox returns every item, pending and failed; their Partition is
	// empty (the migration derives it from the finding each names).
	ListOutbox(ctx context.Context) ([]OutboxItem, error)
	ListGrants(ctx context.Context) ([]Grant, error)
	// ListAudit returns the chain's records with Seq greater than after, in
	// Seq order, up to limit.
	ListAudit(ctx context.Context, after int64, limit int) ([]AuditRecord, error)
	Close() error
}
