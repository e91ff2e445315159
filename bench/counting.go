package bench

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// CountingStore counts the calls the pipeline makes on a store: the writes and
// reads a record costs, the Batch calls, and the outermost of them, the
// transactions they are committed in (one per delivery on the embedded store).
type CountingStore struct {
	guard.Store
	Writes, Reads, Batches, Transactions atomic.Int64
}

// inBatch marks a context inside a Batch.
type inBatch struct{}

// Batch passes the pipeline's batches on to the store, counting them (one per
// delivery, and one per change nested in it: a savepoint on the embedded
// store) and the outermost ones.
func (s *CountingStore) Batch(ctx context.Context, fn func(ctx context.Context) error) error {
	s.Batches.Add(1)
	if ctx.Value(inBatch{}) == nil {
		s.Transactions.Add(1)
		ctx = context.WithValue(ctx, inBatch{}, true)
	}
	return s.Store.Batch(ctx, fn)
}

func (s *CountingStore) PutResource(ctx context.Context, r *guard.Resource) error {
	s.Writes.Add(1)
	return s.Store.PutResource(ctx, r)
}

func (s *CountingStore) UpdateFinding(ctx context.Context, partition, id string, fn func(*guard.Finding) (*guard.Finding, error)) (*guard.Finding, error) {
	s.Writes.Add(1)
	return s.Store.UpdateFinding(ctx, partition, id, fn)
}

func (s *CountingStore) AppendAudit(ctx context.Context, rec guard.AuditRecord) (guard.AuditRecord, error) {
	s.Writes.Add(1)
	return s.Store.AppendAudit(ctx, rec)
}

func (s *CountingStore) MarkProcessed(ctx context.Context, partition, key string, at time.Time) error {
	s.Writes.Add(1)
	return s.Store.MarkProcessed(ctx, partition, key, at)
}

func (s *CountingStore) Enqueue(ctx context.Context, it guard.OutboxItem) error {
	s.Writes.Add(1)
	return s.Store.Enqueue(ctx, it)
}

func (s *CountingStore) PutGrant(ctx context.Context, g guard.Grant) error {
	s.Writes.Add(1)
	return s.Store.PutGrant(ctx, g)
}

func (s *CountingStore) PutPoison(ctx context.Context, p guard.PoisonRecord) error {
	s.Writes.Add(1)
	return s.Store.PutPoison(ctx, p)
}

func (s *CountingStore) Processed(ctx context.Context, partition, key string) (bool, error) {
	s.Reads.Add(1)
	return s.Store.Processed(ctx, partition, key)
}

func (s *CountingStore) GetResource(ctx context.Context, id string) (*guard.Resource, error) {
	s.Reads.Add(1)
	return s.Store.GetResource(ctx, id)
}

func (s *CountingStore) DueItems(ctx context.Context, now time.Time, limit int) ([]guard.OutboxItem, error) {
	s.Reads.Add(1)
	return s.Store.DueItems(ctx, now, limit)
}

func (s *CountingStore) ListFindings(ctx context.Context, f guard.FindingFilter) ([]guard.Finding, error) {
	s.Reads.Add(1)
	return s.Store.ListFindings(ctx, f)
}
