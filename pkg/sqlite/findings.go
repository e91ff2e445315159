package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/exportguard/exportguard/internal/fastjson"
	"github.com/exportguard/exportguard/pkg/guard"
)

var (
	sqlFindingPut = prepared(`
INSERT INTO findings (id, partition, id_key, rule, status, doc) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET id_key = excluded.id_key, rule = excluded.rule,
	status = excluded.status, doc = excluded.doc`)
	sqlFindingGet    = prepared("SELECT partition, doc FROM findings WHERE id = ?")
	sqlFindingSetDoc = prepared("UPDATE findings SET doc = ? WHERE id = ?")
)

// errAbort ends a write transaction without committing it, for a reason its
// caller already knows.
var errAbort = errors.New("transaction aborted")

// GetFinding returns the finding with this ID, or an error wrapping guard.ErrNotFound.
func (s *Store) GetFinding(ctx context.Context, id string) (*guard.Finding, error) {
	_, doc, err := findingDoc(ctx, s.q(ctx), id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: get finding %s: %w", id, err)
	}
	if doc == "" {
		return nil, fmt.Errorf("sqlite: get finding %s: %w", id, guard.ErrNotFound)
	}
	f, err := decodeFinding(doc)
	if err != nil {
		return nil, fmt.Errorf("sqlite: get finding %s: %w", id, err)
	}
	return f, nil
}

// UpdateFinding reads the finding with this ID in this partition, calls fn and
// stores what fn returns, in one write transaction. fn gets a copy of its own:
// changing it changes nothing stored unless fn returns it. The finding fn
// returns is stored under id; an empty ID is set to id, another ID is an
// error, and so is a ResourceID of another partition. Finding IDs are unique
// across partitions (guard.FindingID names the resource), so a finding stored
// under this ID in another partition is an error too, not a finding to create.
//
// fn runs while the store holds the write lock: it must not call the store
// (a store in memory has one connection, which fn's caller holds).
func (s *Store) UpdateFinding(ctx context.Context, partition, id string, fn func(cur *guard.Finding) (*guard.Finding, error)) (*guard.Finding, error) {
	if id == "" {
		return nil, errors.New("sqlite: update finding: empty ID")
	}
	if partition == "" {
		return nil, fmt.Errorf("sqlite: update finding %s: empty partition", id)
	}
	var out *guard.Finding
	var fnErr error
	err := s.write(ctx, func(q querier) error {
		out, fnErr = nil, nil
		storedIn, doc, err := findingDoc(ctx, q, id)
		if err != nil {
			return err
		}
		if doc != "" && storedIn != partition {
			return fmt.Errorf("the finding is in partition %s, not %s", storedIn, partition)
		}
		var cur *guard.Finding
		var was guard.Finding // the indexed columns as stored, whatever fn does to cur
		if doc != "" {
			if cur, err = decodeFinding(doc); err != nil {
				return err
			}
			was = *cur
		}
		next, err := fn(cur)
		if err != nil {
			fnErr = err
			return errAbort
		}
		if next == nil {
			if doc != "" {
				out, err = decodeFinding(doc) // fn may have changed cur
			}
			return err
		}
		if next.ID == "" {
			n := *next
			n.ID = id
			next = &n
		} else if next.ID != id {
			return fmt.Errorf("fn returned finding %s", next.ID)
		}
		if p := guard.PartitionOf(next.ResourceID); p != partition {
			return fmt.Errorf("fn returned a finding about %s, of partition %s, not %s", next.ResourceID, p, partition)
		}
		newDoc, err := encodeFinding(next)
		if err != nil {
			return err
		}
		if doc != "" && was.Status == next.Status && was.Rule == next.Rule && guard.IDKey(was.ResourceID) == guard.IDKey(next.ResourceID) {
			// The indexed columns stay: rewrite the document alone, which leaves
			// the three indexes untouched (the upsert sets their columns, so
			// SQLite rewrites their entries). Most writes are this: a repeated
			// verdict moving lastSeen.
			_, err = q.ExecContext(ctx, sqlFindingSetDoc, newDoc, id)
		} else {
			_, err = q.ExecContext(ctx, sqlFindingPut,
				id, partition, guard.IDKey(next.ResourceID), next.Rule, string(next.Status), newDoc)
		}
		if err != nil {
			return err
		}
		out, err = decodeFinding(newDoc)
		return err
	})
	if fnErr != nil {
		return nil, fmt.Errorf("sqlite: update finding %s: %w", id, fnErr)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: update finding %s: %w", id, err)
	}
	return out, nil
}

// ListFindings returns the findings matching f, sorted by resource ID key, rule
// and finding ID.
func (s *Store) ListFindings(ctx context.Context, f guard.FindingFilter) ([]guard.Finding, error) {
	var where []string
	var args []any
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(f.Status))
	}
	if f.Rule != "" {
		where, args = append(where, "rule = ?"), append(args, f.Rule)
	}
	if f.ResourceID != "" {
		where, args = append(where, "id_key = ?"), append(args, guard.IDKey(f.ResourceID))
	}
	query := "SELECT doc FROM findings"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id_key, rule, id"
	return list(ctx, s.q(ctx), "list findings", query, args, func(rows *sql.Rows) (guard.Finding, error) {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return guard.Finding{}, err
		}
		f, err := decodeFinding(doc)
		if err != nil {
			return guard.Finding{}, err
		}
		return *f, nil
	})
}

// findingDoc returns the partition and stored document of a finding, or ""
// when there is none.
func findingDoc(ctx context.Context, q querier, id string) (partition, doc string, err error) {
	err = q.QueryRowContext(ctx, sqlFindingGet, id).Scan(&partition, &doc)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil
	}
	return partition, doc, err
}

// encodeFinding returns f as stored: JSON, its times in UTC.
func encodeFinding(f *guard.Finding) (string, error) {
	c := *f
	c.FirstSeen, c.LastSeen = utc(c.FirstSeen), utc(c.LastSeen)
	if c.ResolvedAt != nil {
		t := utc(*c.ResolvedAt)
		c.ResolvedAt = &t
	}
	b, err := json.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("encode finding: %w", err)
	}
	return string(b), nil
}

func decodeFinding(doc string) (*guard.Finding, error) {
	var f guard.Finding
	if err := fastjson.Unmarshal([]byte(doc), &f); err != nil {
		return nil, fmt.Errorf("decode finding: %w", err)
	}
	return &f, nil
}
