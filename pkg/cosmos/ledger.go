package cosmos

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Processed reports whether key was marked processed in the partition (and
// not pruned since): the partition's head holds the keys seen, so the read a
// change makes of its partition finds a duplicate too.
func (s *Store) Processed(ctx context.Context, partition, key string) (bool, error) {
	h, err := s.peek(ctx, partition)
	if err != nil {
		return false, fmt.Errorf("cosmos: look up processed %s: %w", key, err)
	}
	_, ok := h.Seen[key]
	return ok, nil
}

// MarkProcessed records key as processed in the partition's head at the
// given time (a key marked already keeps its first time), committed with the
// rest of the Batch of ctx. The head keeps the keys of the last ledger TTL
// before its newest, at most the newest 2,000 (see the package documentation).
func (s *Store) MarkProcessed(ctx context.Context, partition, key string, at time.Time) error {
	if key == "" {
		return errors.New("cosmos: mark processed: empty key")
	}
	if partition == "" {
		return fmt.Errorf("cosmos: mark processed %s: empty partition", key)
	}
	err := s.inUnit(ctx, func(ctx context.Context, u *unit) error {
		p, err := s.loadForWrite(ctx, u, partition)
		if err != nil {
			return err
		}
		if _, ok := p.head.Seen[key]; ok {
			return nil
		}
		p.head.Seen[key] = utc(at)
		u.wrote(p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cosmos: mark processed %s: %w", key, err)
	}
	return nil
}
