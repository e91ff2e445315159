package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

var (
	sqlLedgerGet  = prepared("SELECT 1 FROM ledger WHERE partition = ? AND key = ?")
	sqlLedgerMark = prepared("INSERT INTO ledger (partition, key, at) VALUES (?, ?, ?) ON CONFLICT (partition, key) DO NOTHING")
)

// Processed reports whether key was marked processed in this partition.
func (s *Store) Processed(ctx context.Context, partition, key string) (bool, error) {
	var one int
	err := s.q(ctx).QueryRowContext(ctx, sqlLedgerGet, partition, key).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("sqlite: look up processed %s in %s: %w", key, partition, err)
	}
	return true, nil
}

// MarkProcessed records key as processed in this partition at the given time;
// a key marked already keeps its first time.
func (s *Store) MarkProcessed(ctx context.Context, partition, key string, at time.Time) error {
	if key == "" || partition == "" {
		return fmt.Errorf("sqlite: mark processed %q in %q: empty key or partition", key, partition)
	}
	err := s.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, sqlLedgerMark, partition, key, formatTime(at))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: mark processed %s in %s: %w", key, partition, err)
	}
	return nil
}
