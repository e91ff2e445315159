package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/exportguard/exportguard/internal/fastjson"
	"github.com/exportguard/exportguard/pkg/guard"
)

var (
	sqlPoisonPut  = prepared("INSERT INTO poison (id, at, doc) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING")
	sqlPoisonList = prepared("SELECT doc FROM poison ORDER BY at, rowid")
)

// PutPoison keeps a record; one with the same ID already there is kept as it is.
func (s *Store) PutPoison(ctx context.Context, p guard.PoisonRecord) error {
	if p.ID == "" {
		return errors.New("sqlite: put poison: empty ID")
	}
	c := p
	c.At = utc(c.At)
	doc, err := json.Marshal(&c)
	if err != nil {
		return fmt.Errorf("sqlite: put poison %s: %w", p.ID, err)
	}
	err = s.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, sqlPoisonPut,
			p.ID, formatTime(p.At), string(doc))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: put poison %s: %w", p.ID, err)
	}
	return nil
}

// ListPoison returns every kept record, oldest At first (then in the order they
// were kept).
func (s *Store) ListPoison(ctx context.Context) ([]guard.PoisonRecord, error) {
	return list(ctx, s.q(ctx), "list poison", sqlPoisonList, nil, func(rows *sql.Rows) (guard.PoisonRecord, error) {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return guard.PoisonRecord{}, err
		}
		var p guard.PoisonRecord
		if err := fastjson.Unmarshal([]byte(doc), &p); err != nil {
			return guard.PoisonRecord{}, fmt.Errorf("decode record: %w", err)
		}
		return p, nil
	})
}
