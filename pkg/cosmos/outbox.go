package cosmos

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"

	"github.com/exportguard/exportguard/pkg/guard"
)

// outboxDoc is an outbox item as stored in the outbox container.
type outboxDoc struct {
	ID         string           `json:"id"`         // docID of the item ID; also the partition key
	NextAt     string           `json:"nextAt"`     // timeKey of NextAttempt, for the due query
	EnqueuedAt string           `json:"enqueuedAt"` // timeKey of when it was enqueued: ties in NextAt keep this order
	WriteID    string           `json:"writeId"`
	Item       guard.OutboxItem `json:"item"`
}

// Enqueue adds an item; an item with the same ID already there is kept as it is.
func (s *Store) Enqueue(ctx context.Context, it guard.OutboxItem) error {
	if it.ID == "" {
		return errors.New("cosmos: enqueue: empty ID")
	}
	it.CreatedAt, it.NextAttempt = utc(it.CreatedAt), utc(it.NextAttempt)
	did := docID(it.ID)
	b, err := json.Marshal(outboxDoc{ID: did, NextAt: timeKey(it.NextAttempt), EnqueuedAt: timeKey(time.Now()), Item: it})
	if err != nil {
		return fmt.Errorf("cosmos: enqueue %s: %w", it.ID, err)
	}
	if err := createIfAbsent(ctx, s.container(cOutbox), pkOf(did), b); err != nil {
		return fmt.Errorf("cosmos: enqueue %s: %w", it.ID, err)
	}
	return nil
}

// DueItems returns up to limit items whose NextAttempt is at or before now,
// oldest NextAttempt first (then in the order they were enqueued). A limit of
// zero or less returns none. The query spans every partition and only filters:
// it reads every due item, and the order and limit are applied here (the
// outbox is a short queue).
func (s *Store) DueItems(ctx context.Context, now time.Time, limit int) ([]guard.OutboxItem, error) {
	if limit <= 0 {
		return nil, nil
	}
	docs, err := queryDocs[outboxDoc](ctx, s.container(cOutbox), crossPartition, "SELECT * FROM c WHERE c.nextAt <= @now",
		[]azcosmos.QueryParameter{param("@now", timeKey(now))})
	if err != nil {
		return nil, fmt.Errorf("cosmos: list due outbox items: %w", err)
	}
	slices.SortFunc(docs, func(a, b outboxDoc) int {
		return cmp.Or(strings.Compare(a.NextAt, b.NextAt), strings.Compare(a.EnqueuedAt, b.EnqueuedAt),
			strings.Compare(a.Item.ID, b.Item.ID))
	})
	var out []guard.OutboxItem
	for _, d := range docs[:min(limit, len(docs))] {
		out = append(out, d.Item)
	}
	return out, nil
}

// Complete removes a delivered item; completing one that is absent is not an error.
func (s *Store) Complete(ctx context.Context, id string) error {
	did := docID(id)
	if err := deleteIfPresent(ctx, s.container(cOutbox), pkOf(did), did); err != nil {
		return fmt.Errorf("cosmos: complete outbox item %s: %w", id, err)
	}
	return nil
}

// Retry records a failed attempt: one more attempt, lastErr, and next as the
// time to try again, as one conditional write (see UpdateFinding). It returns
// an error wrapping guard.ErrNotFound when the item is absent.
func (s *Store) Retry(ctx context.Context, id string, next time.Time, lastErr string) error {
	did := docID(id)
	err := s.change(ctx, s.container(cOutbox), pkOf(did), did, func(cur []byte, writeID string) ([]byte, error) {
		if cur == nil {
			return nil, guard.ErrNotFound
		}
		var d outboxDoc
		if err := json.Unmarshal(cur, &d); err != nil {
			return nil, fmt.Errorf("decode outbox item: %w", err)
		}
		d.Item.Attempts++
		d.Item.NextAttempt, d.Item.LastError = utc(next), lastErr
		d.NextAt, d.WriteID = timeKey(next), writeID
		return json.Marshal(d)
	})
	if isStatus(err, http.StatusNotFound) { // completed between the read and the write
		err = fmt.Errorf("%w: %w", guard.ErrNotFound, err)
	}
	if err != nil {
		return fmt.Errorf("cosmos: retry outbox item %s: %w", id, err)
	}
	return nil
}

// failedNextAt is the NextAt of a failed item: later than any time DueItems is
// asked about, so it is never due again.
const failedNextAt = "9999-12-31T23:59:59.999999999Z"

// Fail gives up on an item: one more attempt, the reason, Failed, never due
// again, as one conditional write. ErrNotFound when the item is absent.
func (s *Store) Fail(ctx context.Context, id, reason string) error {
	did := docID(id)
	err := s.change(ctx, s.container(cOutbox), pkOf(did), did, func(cur []byte, writeID string) ([]byte, error) {
		if cur == nil {
			return nil, guard.ErrNotFound
		}
		var d outboxDoc
		if err := json.Unmarshal(cur, &d); err != nil {
			return nil, fmt.Errorf("decode outbox item: %w", err)
		}
		d.Item.Attempts++
		d.Item.LastError, d.Item.Failed = reason, true
		d.NextAt, d.WriteID = failedNextAt, writeID
		return json.Marshal(d)
	})
	if isStatus(err, http.StatusNotFound) {
		err = fmt.Errorf("%w: %w", guard.ErrNotFound, err)
	}
	if err != nil {
		return fmt.Errorf("cosmos: fail outbox item %s: %w", id, err)
	}
	return nil
}

// ListOutbox returns every item kept, oldest CreatedAt first, then by ID.
func (s *Store) ListOutbox(ctx context.Context) ([]guard.OutboxItem, error) {
	docs, err := queryDocs[outboxDoc](ctx, s.container(cOutbox), crossPartition, "SELECT * FROM c", nil)
	if err != nil {
		return nil, fmt.Errorf("cosmos: list outbox: %w", err)
	}
	out := make([]guard.OutboxItem, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.Item)
	}
	slices.SortFunc(out, func(a, b guard.OutboxItem) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}
