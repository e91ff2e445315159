package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/exportguard/exportguard/internal/fastjson"
	"github.com/exportguard/exportguard/pkg/guard"
)

var (
	sqlGrantPut = prepared(`
INSERT INTO grants (id, end_at, doc, details) VALUES (?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET end_at = excluded.end_at, doc = excluded.doc, details = excluded.details`)
	sqlGrantsDue   = prepared("SELECT doc, details FROM grants WHERE end_at <= ? ORDER BY end_at, id")
	sqlGrantDelete = prepared("DELETE FROM grants WHERE id = ?")
)

// PutGrant stores or replaces a grant (by ID).
func (s *Store) PutGrant(ctx context.Context, g guard.Grant) error {
	if g.ID == "" {
		return errors.New("sqlite: put grant: empty ID")
	}
	c := g
	c.Start, c.End, c.Details = utc(c.Start), utc(c.End), nil
	doc, err := json.Marshal(&c)
	if err != nil {
		return fmt.Errorf("sqlite: put grant %s: %w", g.ID, err)
	}
	err = s.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, sqlGrantPut,
			g.ID, formatTime(g.End), string(doc), raw(g.Details))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: put grant %s: %w", g.ID, err)
	}
	return nil
}

// DueGrants returns the grants whose End is at or before the given time, sorted
// by End then ID.
func (s *Store) DueGrants(ctx context.Context, before time.Time) ([]guard.Grant, error) {
	return list(ctx, s.q(ctx), "list due grants", sqlGrantsDue, []any{formatTime(before)}, func(rows *sql.Rows) (guard.Grant, error) {
		var doc string
		var details []byte
		if err := rows.Scan(&doc, &details); err != nil {
			return guard.Grant{}, err
		}
		var g guard.Grant
		if err := fastjson.Unmarshal([]byte(doc), &g); err != nil {
			return guard.Grant{}, fmt.Errorf("decode grant: %w", err)
		}
		if len(details) > 0 {
			g.Details = json.RawMessage(details)
		}
		return g, nil
	})
}

// DeleteGrant removes a grant; removing one that is absent is not an error.
func (s *Store) DeleteGrant(ctx context.Context, id string) error {
	err := s.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, sqlGrantDelete, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete grant %s: %w", id, err)
	}
	return nil
}
