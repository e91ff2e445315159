package cosmos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ledgerDoc is a processed event as kept in the ledger container. The
// container's default TTL removes it once it is older than the ledger TTL.
type ledgerDoc struct {
	ID  string    `json:"id"` // docID of the key; also the partition key
	Key string    `json:"key"`
	At  time.Time `json:"at"`
}

// Processed reports whether key was marked processed (and has not expired).
func (s *Store) Processed(ctx context.Context, key string) (bool, error) {
	did := docID(key)
	doc, _, err := readItem(ctx, s.container(cLedger), pkOf(did), did)
	if err != nil {
		return false, fmt.Errorf("cosmos: look up processed %s: %w", key, err)
	}
	return doc != nil, nil
}

// MarkProcessed records key as processed at the given time; a key marked
// already keeps its first time.
func (s *Store) MarkProcessed(ctx context.Context, key string, at time.Time) error {
	if key == "" {
		return errors.New("cosmos: mark processed: empty key")
	}
	did := docID(key)
	b, err := json.Marshal(ledgerDoc{ID: did, Key: key, At: utc(at)})
	if err != nil {
		return fmt.Errorf("cosmos: mark processed %s: %w", key, err)
	}
	if err := createIfAbsent(ctx, s.container(cLedger), pkOf(did), b); err != nil {
		return fmt.Errorf("cosmos: mark processed %s: %w", key, err)
	}
	return nil
}
