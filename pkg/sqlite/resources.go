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
	sqlResourcePut = prepared(`
INSERT INTO resources (id_key, doc, body) VALUES (?, ?, ?)
ON CONFLICT (id_key) DO UPDATE SET doc = excluded.doc, body = excluded.body`)
	sqlResourcesList = prepared("SELECT doc, body FROM resources ORDER BY id_key")
	sqlResourceGet   = prepared("SELECT doc, body FROM resources WHERE id_key = ?")
)

// GetResource returns the last known state of the resource, whatever the casing
// of id, or an error wrapping guard.ErrNotFound.
func (s *Store) GetResource(ctx context.Context, id string) (*guard.Resource, error) {
	r, err := getResource(ctx, s.q(ctx), guard.IDKey(id))
	if err != nil {
		return nil, fmt.Errorf("sqlite: get resource %s: %w", id, err)
	}
	if r == nil {
		return nil, fmt.Errorf("sqlite: get resource %s: %w", id, guard.ErrNotFound)
	}
	return r, nil
}

// PutResource stores r under the key of its ID.
func (s *Store) PutResource(ctx context.Context, r *guard.Resource) error {
	if r == nil {
		return errors.New("sqlite: put resource: nil resource")
	}
	key := guard.IDKey(r.ID)
	if key == "" {
		return errors.New("sqlite: put resource: empty ID")
	}
	c := *r
	c.ObservedAt, c.Body = utc(c.ObservedAt), nil
	doc, err := json.Marshal(&c)
	if err != nil {
		return fmt.Errorf("sqlite: put resource %s: %w", r.ID, err)
	}
	err = s.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, sqlResourcePut, key, string(doc), raw(r.Body))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: put resource %s: %w", r.ID, err)
	}
	return nil
}

// ListResources returns every resource with a known state, sorted by ID key.
func (s *Store) ListResources(ctx context.Context) ([]guard.Resource, error) {
	return list(ctx, s.q(ctx), "list resources", sqlResourcesList, nil, func(rows *sql.Rows) (guard.Resource, error) {
		var doc string
		var body []byte
		if err := rows.Scan(&doc, &body); err != nil {
			return guard.Resource{}, err
		}
		r, err := decodeResource(doc, body)
		if err != nil {
			return guard.Resource{}, err
		}
		return *r, nil
	})
}

// getResource returns the resource stored under key, or nil when there is none.
func getResource(ctx context.Context, q querier, key string) (*guard.Resource, error) {
	var doc string
	var body []byte
	err := q.QueryRowContext(ctx, sqlResourceGet, key).Scan(&doc, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeResource(doc, body)
}

func decodeResource(doc string, body []byte) (*guard.Resource, error) {
	var r guard.Resource
	if err := fastjson.Unmarshal([]byte(doc), &r); err != nil {
		return nil, fmt.Errorf("decode resource: %w", err)
	}
	if len(body) > 0 {
		r.Body = json.RawMessage(body)
	}
	return &r, nil
}
