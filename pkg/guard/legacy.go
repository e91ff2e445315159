package guard

import "context"

// LegacyStore reads a store kept in the layout before partitions (DESIGN 6),
// for `exportguard store migrate`: each store package offers one for its old
// layout (sqlite.OpenLegacy, cosmos.OpenLegacy). It only reads.
type LegacyStore interface {
	// ListFindings returns every finding.
	ListFindings(ctx context.Context) ([]Finding, error)
	// ListResources returns every resource with a known state.
	ListResources(ctx context.Context) ([]Resource, error)
	// ListOutbox returns every outbox item kept, pending and failed (their
	// Partition empty: the old layout had none).
	ListOutbox(ctx context.Context) ([]OutboxItem, error)
	// ListGrants returns every grant.
	ListGrants(ctx context.Context) ([]Grant, error)
	// ListAudit returns the single chain's records with Seq greater than
	// after, in Seq order, up to limit (a limit <= 0 returns nothing), as
	// stored (their Partition empty: v1 records).
	ListAudit(ctx context.Context, after int64, limit int) ([]AuditRecord, error)
	Close() error
}
