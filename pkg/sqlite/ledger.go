package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

var (
	sqlLedgerGet  = prepared("SELECT 1 FROM ledger WHERE key = ?")
	sqlLedgerMark = prepared("INSERT INTO ledger (key, at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
)

// Processed reports whether key was marked processed.
func (s *Store) Processed(ctx context.Context, key string) (bool, error) {
	var one int
	err := s.q(ctx).QueryRowContext(ctx, sqlLedgerGet, key).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("sqlite: look up processed %s: %w", key, err)
	}
	return true, nil
}

// MarkProcessed records key as processed at the given time; a key marked
// already keeps its first time.
func (s *Store) MarkProcessed(ctx context.Context, key string, at time.Time) error {
	if key == "" {
		return errors.New("sqlite: mark processed: empty key")
	}
	err := s.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, sqlLedgerMark,
			key, formatTime(at))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: mark processed %s: %w", key, err)
	}
	return nil
}
