package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/exportguard/exportguard/pkg/guard"
)

// AppendAudit appends a record and returns it with its Seq, which is greater
// than that of every record appended before. The Seq given is ignored.
func (s *Store) AppendAudit(ctx context.Context, rec guard.AuditRecord) (guard.AuditRecord, error) {
	c := rec
	c.Seq, c.At, c.Data = 0, utc(c.At), nil
	doc, err := json.Marshal(&c)
	if err != nil {
		return guard.AuditRecord{}, fmt.Errorf("sqlite: append audit %s %s: %w", rec.Kind, rec.Subject, err)
	}
	var seq int64
	err = s.write(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, "INSERT INTO audit (doc, data) VALUES (?, ?)", string(doc), raw(rec.Data))
		if err != nil {
			return err
		}
		seq, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return guard.AuditRecord{}, fmt.Errorf("sqlite: append audit %s %s: %w", rec.Kind, rec.Subject, err)
	}
	out := rec
	out.Seq, out.At = seq, utc(rec.At)
	if len(rec.Data) > 0 {
		out.Data = append(json.RawMessage(nil), rec.Data...)
	}
	return out, nil
}

// ListAudit returns up to limit records with Seq greater than after, in Seq
// order. A limit of zero or less returns none.
func (s *Store) ListAudit(ctx context.Context, after int64, limit int) ([]guard.AuditRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, "SELECT seq, doc, data FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
		after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit after %d: %w", after, err)
	}
	defer rows.Close()
	var out []guard.AuditRecord
	for rows.Next() {
		var seq int64
		var doc string
		var data []byte
		if err := rows.Scan(&seq, &doc, &data); err != nil {
			return nil, fmt.Errorf("sqlite: list audit after %d: %w", after, err)
		}
		var rec guard.AuditRecord
		if err := json.Unmarshal([]byte(doc), &rec); err != nil {
			return nil, fmt.Errorf("sqlite: list audit after %d: decode record %d: %w", after, seq, err)
		}
		rec.Seq = seq
		if len(data) > 0 {
			rec.Data = json.RawMessage(data)
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list audit after %d: %w", after, err)
	}
	return out, nil
}
