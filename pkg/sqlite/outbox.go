package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/exportguard/exportguard/internal/fastjson"
	"github.com/exportguard/exportguard/pkg/guard"
)

var (
	sqlOutboxEnqueue = prepared(`
INSERT INTO outbox (partition, id, next_attempt, doc, payload) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (partition, id) DO NOTHING`)
	sqlOutboxDue = prepared(`
SELECT doc, payload FROM outbox WHERE next_attempt <= ? ORDER BY next_attempt, rowid LIMIT ?`)
	sqlOutboxDelete = prepared("DELETE FROM outbox WHERE partition = ? AND id = ?")
	sqlOutboxGet    = prepared("SELECT doc, payload FROM outbox WHERE partition = ? AND id = ?")
	sqlOutboxUpdate = prepared("UPDATE outbox SET next_attempt = ?, doc = ? WHERE partition = ? AND id = ?")
	sqlOutboxList   = prepared("SELECT doc, payload FROM outbox")
	sqlOutboxClaim  = prepared(`
UPDATE outbox SET next_attempt = ?, doc = ? WHERE partition = ? AND id = ? AND next_attempt = ? AND next_attempt <> ?`)
)

// Enqueue adds an item to its partition; an item with the same ID already
// there is kept as it is.
func (s *Store) Enqueue(ctx context.Context, it guard.OutboxItem) error {
	if it.ID == "" {
		return errors.New("sqlite: enqueue: empty ID")
	}
	if it.Partition == "" {
		return fmt.Errorf("sqlite: enqueue %s: empty partition", it.ID)
	}
	doc, err := encodeOutboxItem(it)
	if err != nil {
		return fmt.Errorf("sqlite: enqueue %s: %w", it.ID, err)
	}
	err = s.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, sqlOutboxEnqueue,
			it.Partition, it.ID, formatTime(it.NextAttempt), doc, raw(it.Payload))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: enqueue %s: %w", it.ID, err)
	}
	return nil
}

// DueItems returns up to limit items whose NextAttempt is at or before now,
// oldest NextAttempt first (then in the order they were enqueued). A limit of
// zero or less returns none.
func (s *Store) DueItems(ctx context.Context, now time.Time, limit int) ([]guard.OutboxItem, error) {
	if limit <= 0 {
		return nil, nil
	}
	return list(ctx, s.q(ctx), "list due outbox items", sqlOutboxDue, []any{formatTime(now), limit}, readOutboxItem)
}

// Complete removes a delivered item; completing one that is absent is not an error.
func (s *Store) Complete(ctx context.Context, partition, id string) error {
	err := s.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, sqlOutboxDelete, partition, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: complete outbox item %s: %w", id, err)
	}
	return nil
}

// Retry records a failed attempt: one more attempt, lastErr, and next as the
// time to try again. It returns an error wrapping guard.ErrNotFound when the item
// is absent.
func (s *Store) Retry(ctx context.Context, partition, id string, next time.Time, lastErr string) error {
	err := s.changeOutboxItem(ctx, partition, id, formatTime(next), func(it *guard.OutboxItem) {
		it.Attempts++
		it.NextAttempt, it.LastError = next, lastErr
	})
	if err != nil {
		return fmt.Errorf("sqlite: retry outbox item %s: %w", id, err)
	}
	return nil
}

// Claim moves a due item's next attempt from due to until if it is still
// there, not failed, and still due at due: true when this caller moved it.
// The UPDATE is its own compare-and-set (rows affected), so that it holds
// between processes sharing the file too.
func (s *Store) Claim(ctx context.Context, partition, id string, due, until time.Time) (bool, error) {
	won := false
	err := s.write(ctx, func(q querier) error {
		won = false
		var doc string
		var payload []byte
		err := q.QueryRowContext(ctx, sqlOutboxGet, partition, id).Scan(&doc, &payload)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		it, err := decodeOutboxItem(doc, payload)
		if err != nil {
			return err
		}
		if it.Failed || formatTime(it.NextAttempt) != formatTime(due) {
			return nil
		}
		it.NextAttempt = until
		if doc, err = encodeOutboxItem(it); err != nil {
			return err
		}
		res, err := q.ExecContext(ctx, sqlOutboxClaim, formatTime(until), doc, partition, id, formatTime(due), failedNextAttempt)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		won = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: claim outbox item %s: %w", id, err)
	}
	return won, nil
}

// failedNextAttempt is stored as the next attempt of a failed item: later than
// any time DueItems is asked about, so it is never due again.
const failedNextAttempt = "9999-12-31T23:59:59.999999999Z"

// Fail gives up on an item: one more attempt, the reason, Failed, never due again.
func (s *Store) Fail(ctx context.Context, partition, id, reason string) error {
	err := s.changeOutboxItem(ctx, partition, id, failedNextAttempt, func(it *guard.OutboxItem) {
		it.Attempts++
		it.LastError, it.Failed = reason, true
	})
	if err != nil {
		return fmt.Errorf("sqlite: fail outbox item %s: %w", id, err)
	}
	return nil
}

// changeOutboxItem applies change to a stored item and stores it with the given
// next-attempt key, in one write transaction; guard.ErrNotFound when absent.
func (s *Store) changeOutboxItem(ctx context.Context, partition, id, nextKey string, change func(*guard.OutboxItem)) error {
	return s.write(ctx, func(q querier) error {
		var doc string
		var payload []byte
		err := q.QueryRowContext(ctx, sqlOutboxGet, partition, id).Scan(&doc, &payload)
		if errors.Is(err, sql.ErrNoRows) {
			return guard.ErrNotFound
		}
		if err != nil {
			return err
		}
		it, err := decodeOutboxItem(doc, payload)
		if err != nil {
			return err
		}
		change(&it)
		if doc, err = encodeOutboxItem(it); err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, sqlOutboxUpdate, nextKey, doc, partition, id)
		return err
	})
}

// ListOutbox returns every item kept, oldest CreatedAt first, then by ID.
func (s *Store) ListOutbox(ctx context.Context) ([]guard.OutboxItem, error) {
	out, err := list(ctx, s.q(ctx), "list outbox", sqlOutboxList, nil, readOutboxItem)
	if err != nil {
		return nil, err
	}
	sortOutbox(out)
	return out, nil
}

// readOutboxItem reads an item from a row of (doc, payload).
func readOutboxItem(rows *sql.Rows) (guard.OutboxItem, error) {
	var doc string
	var payload []byte
	if err := rows.Scan(&doc, &payload); err != nil {
		return guard.OutboxItem{}, err
	}
	return decodeOutboxItem(doc, payload)
}

// encodeOutboxItem returns it as stored: JSON without the payload, its times in UTC.
func encodeOutboxItem(it guard.OutboxItem) (string, error) {
	it.CreatedAt, it.NextAttempt, it.Payload = utc(it.CreatedAt), utc(it.NextAttempt), nil
	b, err := json.Marshal(&it)
	if err != nil {
		return "", fmt.Errorf("encode outbox item: %w", err)
	}
	return string(b), nil
}

func decodeOutboxItem(doc string, payload []byte) (guard.OutboxItem, error) {
	var it guard.OutboxItem
	if err := fastjson.Unmarshal([]byte(doc), &it); err != nil {
		return it, fmt.Errorf("decode outbox item: %w", err)
	}
	if len(payload) > 0 {
		it.Payload = json.RawMessage(payload)
	}
	return it, nil
}

func sortOutbox(items []guard.OutboxItem) {
	slices.SortFunc(items, func(a, b guard.OutboxItem) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
}
