package cosmos

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"

	"github.com/exportguard/exportguard/pkg/guard"
)

// outboxDoc is an outbox item as kept in its partition.
type outboxDoc struct {
	ID         string           `json:"id"` // outboxDocID of the item ID
	PK         string           `json:"pk"`
	Partition  string           `json:"partition"`
	Kind       string           `json:"kind"`       // "outbox"
	NextAt     string           `json:"nextAt"`     // timeKey of NextAttempt, for the due query
	EnqueuedAt string           `json:"enqueuedAt"` // timeKey of when it was enqueued: ties in NextAt keep this order
	Item       guard.OutboxItem `json:"item"`
}

// outboxDocID is the document ID of an outbox item.
func outboxDocID(id string) string { return "outbox-" + docID(id) }

// failedNextAt is the NextAt of a failed item: later than any time DueItems is
// asked about, so it is never due again.
const failedNextAt = "9999-12-31T23:59:59.999999999Z"

// opFor returns the unit's outbox write of an item, or nil.
func (p *partState) opFor(id string) *itemOp {
	for _, op := range p.items {
		if op.id == id {
			return op
		}
	}
	return nil
}

// setOp makes op the unit's outbox write of its item.
func (p *partState) setOp(op *itemOp) {
	for i, o := range p.items {
		if o.id == op.id {
			p.items = slices.Delete(p.items, i, i+1)
			break
		}
	}
	p.items = append(p.items, op)
}

// Enqueue adds an item to its partition (it.Partition), committed with the
// rest of the Batch of ctx; an item with the same ID already there is kept as
// it is (its create meets it, 409, and is dropped from the batch).
func (s *Store) Enqueue(ctx context.Context, it guard.OutboxItem) error {
	if it.ID == "" {
		return errors.New("cosmos: enqueue: empty ID")
	}
	if it.Partition == "" {
		return fmt.Errorf("cosmos: enqueue %s: empty partition", it.ID)
	}
	it.CreatedAt, it.NextAttempt = utc(it.CreatedAt), utc(it.NextAttempt)
	err := s.inUnit(ctx, func(ctx context.Context, u *unit) error {
		p, err := s.loadForWrite(ctx, u, it.Partition)
		if err != nil {
			return err
		}
		doc := &outboxDoc{ID: outboxDocID(it.ID), PK: pkOfPartition(it.Partition), Partition: it.Partition, Kind: "outbox",
			NextAt: timeKey(it.NextAttempt), EnqueuedAt: timeKey(time.Now()), Item: it}
		switch op := p.opFor(it.ID); {
		case op != nil && op.kind == opDelete:
			p.setOp(&itemOp{kind: opUpsert, id: it.ID, doc: doc})
		case op != nil, p.itemsRead[it.ID] != nil:
			return nil // there already
		default:
			p.setOp(&itemOp{kind: opCreate, id: it.ID, doc: doc})
		}
		u.wrote(p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cosmos: enqueue %s: %w", it.ID, err)
	}
	return nil
}

// Complete removes a delivered item; completing one that is absent is not an
// error (its delete meets none, 404, and is dropped from the batch).
func (s *Store) Complete(ctx context.Context, partition, id string) error {
	err := s.inUnit(ctx, func(ctx context.Context, u *unit) error {
		p, err := s.loadForWrite(ctx, u, partition)
		if err != nil {
			return err
		}
		p.setOp(&itemOp{kind: opDelete, id: id})
		u.wrote(p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cosmos: complete outbox item %s: %w", id, err)
	}
	return nil
}

// Retry records a failed attempt: one more attempt, lastErr, and next as the
// time to try again. It returns an error wrapping guard.ErrNotFound when the
// item is absent.
func (s *Store) Retry(ctx context.Context, partition, id string, next time.Time, lastErr string) error {
	err := s.changeItem(ctx, partition, id, func(d *outboxDoc) bool {
		d.Item.Attempts++
		d.Item.NextAttempt, d.Item.LastError = utc(next), lastErr
		d.NextAt = timeKey(next)
		return true
	})
	if err != nil {
		return fmt.Errorf("cosmos: retry outbox item %s: %w", id, err)
	}
	return nil
}

// Fail gives up on an item: one more attempt, the reason, Failed, never due
// again. ErrNotFound when the item is absent.
func (s *Store) Fail(ctx context.Context, partition, id, reason string) error {
	err := s.changeItem(ctx, partition, id, func(d *outboxDoc) bool {
		d.Item.Attempts++
		d.Item.LastError, d.Item.Failed = reason, true
		d.NextAt = failedNextAt
		return true
	})
	if err != nil {
		return fmt.Errorf("cosmos: fail outbox item %s: %w", id, err)
	}
	return nil
}

// Claim moves a due item's NextAttempt from due to until if it is still
// there, not failed, and still due at due: true when this caller moved it.
// It is a write like Retry's, committed conditional on the partition's head:
// of two claimers that read the same due, one commits and the other loses the
// race (412 on the head), reads the item again, finds it claimed and returns
// false. (Not a replace of the item with If-Match on its own ETag: items
// change only through commits conditional on the head, which changeItem
// relies on.) Outside a Batch, as guard.Outbox says: a Batch that commits a
// partition before the one that lost would read its own claim as another's.
func (s *Store) Claim(ctx context.Context, partition, id string, due, until time.Time) (bool, error) {
	won := false
	err := s.changeItem(ctx, partition, id, func(d *outboxDoc) bool {
		won = !d.Item.Failed && d.NextAt == timeKey(due)
		if won {
			d.Item.NextAttempt, d.NextAt = utc(until), timeKey(until)
		}
		return won
	})
	if errors.Is(err, guard.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cosmos: claim outbox item %s: %w", id, err)
	}
	return won, nil
}

// changeItem reads an item (the unit's write of it, or a point read after
// the head's: a commit conditional on the head then also stands for the
// item, which only such commits change) and writes what change makes of it,
// unless change returns false.
func (s *Store) changeItem(ctx context.Context, partition, id string, change func(*outboxDoc) bool) error {
	return s.inUnit(ctx, func(ctx context.Context, u *unit) error {
		p, err := s.loadForWrite(ctx, u, partition)
		if err != nil {
			return err
		}
		kind := opUpsert
		var cur outboxDoc
		switch op := p.opFor(id); {
		case op != nil && op.kind == opDelete:
			return guard.ErrNotFound
		case op != nil:
			cur, kind = *op.doc, op.kind
		default:
			d, err := s.readOutbox(ctx, p, id)
			if err != nil {
				return err
			}
			if d == nil {
				return guard.ErrNotFound
			}
			cur = *d
		}
		if !change(&cur) {
			return nil
		}
		p.setOp(&itemOp{kind: kind, id: id, doc: &cur})
		u.wrote(p)
		return nil
	})
}

// readOutbox returns an item of a partition the unit has read (nil when
// absent), reading it once.
func (s *Store) readOutbox(ctx context.Context, p *partState, id string) (*outboxDoc, error) {
	if d, ok := p.itemsRead[id]; ok {
		return d, nil
	}
	b, _, err := readItem(ctx, s.container(cPartitions), partitionKey(p.partition), outboxDocID(id))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	var d *outboxDoc
	if b != nil {
		if err := decodeJSON(b, &d); err != nil {
			return nil, err
		}
	}
	if p.itemsRead == nil {
		p.itemsRead = map[string]*outboxDoc{}
	}
	p.itemsRead[id] = d
	return d, nil
}

// DueItems returns up to limit items whose NextAttempt is at or before now,
// oldest NextAttempt first (then in the order they were enqueued). A limit of
// zero or less returns none. The query spans every partition and only
// filters: it reads every due item, and the order and limit are applied here
// (the outbox is a short queue).
func (s *Store) DueItems(ctx context.Context, now time.Time, limit int) ([]guard.OutboxItem, error) {
	if limit <= 0 {
		return nil, nil
	}
	at := timeKey(now)
	docs, err := s.queryItems(ctx, "SELECT * FROM c WHERE c.kind = 'outbox' AND c.nextAt <= @now",
		[]azcosmos.QueryParameter{param("@now", at)})
	if err != nil {
		return nil, fmt.Errorf("cosmos: list due outbox items: %w", err)
	}
	docs = slices.DeleteFunc(docs, func(d *outboxDoc) bool { return d.NextAt > at })
	slices.SortFunc(docs, func(a, b *outboxDoc) int {
		return cmp.Or(strings.Compare(a.NextAt, b.NextAt), strings.Compare(a.EnqueuedAt, b.EnqueuedAt),
			strings.Compare(a.Item.ID, b.Item.ID))
	})
	var out []guard.OutboxItem
	for _, d := range docs[:min(limit, len(docs))] {
		out = append(out, d.Item)
	}
	return out, nil
}

// ListOutbox returns every item kept, oldest CreatedAt first, then by ID.
func (s *Store) ListOutbox(ctx context.Context) ([]guard.OutboxItem, error) {
	docs, err := s.queryItems(ctx, "SELECT * FROM c WHERE c.kind = 'outbox'", nil)
	if err != nil {
		return nil, fmt.Errorf("cosmos: list outbox: %w", err)
	}
	out := make([]guard.OutboxItem, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.Item)
	}
	sortOutbox(out)
	return out, nil
}

// queryItems runs a query across partitions for outbox items, with the
// writes of the Batch of ctx applied to what it returns (callers filter
// again).
func (s *Store) queryItems(ctx context.Context, sql string, params []azcosmos.QueryParameter) ([]*outboxDoc, error) {
	docs, err := queryDocs[outboxDoc](ctx, s.container(cPartitions), crossPartition, sql, params)
	if err != nil {
		return nil, err
	}
	type key struct{ partition, id string }
	byKey := map[key]*outboxDoc{}
	var order []key
	for i := range docs {
		k := key{docs[i].Partition, docs[i].Item.ID}
		byKey[k] = &docs[i]
		order = append(order, k)
	}
	var units []*unit
	for a := unitOf(ctx); a != nil; a = a.parent {
		units = append(units, a)
	}
	for _, a := range slices.Backward(units) { // outermost first: inner writes win
		for _, p := range a.parts {
			for _, op := range p.items {
				k := key{p.partition, op.id}
				if _, ok := byKey[k]; !ok {
					order = append(order, k)
				}
				switch {
				case op.kind == opDelete:
					byKey[k] = nil
				case op.kind == opCreate && byKey[k] != nil:
				default:
					byKey[k] = op.doc
				}
			}
		}
	}
	var out []*outboxDoc
	for _, k := range order {
		if d := byKey[k]; d != nil {
			out = append(out, d)
			byKey[k] = nil
		}
	}
	return out, nil
}

// sortOutbox puts items in ListOutbox's order: oldest CreatedAt first, then by ID.
func sortOutbox(out []guard.OutboxItem) {
	slices.SortFunc(out, func(a, b guard.OutboxItem) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
}
