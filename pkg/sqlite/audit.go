package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/exportguard/exportguard/internal/fastjson"
	"github.com/exportguard/exportguard/pkg/guard"
	"time"
)

var (
	sqlAuditHead    = prepared("SELECT seq, hash FROM audit_heads WHERE partition = ?")
	sqlAuditInsert  = prepared("INSERT INTO audit (partition, seq, doc, data) VALUES (?, ?, ?, ?)")
	sqlAuditSetHead = prepared(`
INSERT INTO audit_heads (partition, seq, hash, at) VALUES (?, ?, ?, ?)
ON CONFLICT (partition) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, at = excluded.at`)
	sqlAuditList = prepared("SELECT seq, doc, data FROM audit WHERE partition = ? AND seq > ? ORDER BY seq LIMIT ?")
	// INDEXED BY: left to itself, SQLite scans every head in partition order
	// (the primary key) to spare a sort, and every sweep's seal then costs
	// one row per partition the store ever had (issue 16: replay grew with
	// the square of the session's length). The heads since a time are few.
	sqlAuditHeads = prepared("SELECT partition, seq, hash, at FROM audit_heads INDEXED BY audit_heads_by_at WHERE at >= ? ORDER BY partition")
)

// AppendAudit appends a record to the chain of its partition and returns it as
// stored: in the write transaction it reads the partition's head (audit_heads),
// takes the Seq after it and its Hash as PrevHash (see guard.SealAudit), and
// moves the head to the new record, so that appenders, also in other processes
// sharing the file, build one chain per partition with Seqs from 1 without
// gaps. The Seq, PrevHash and Hash given are ignored; Data is kept byte for
// byte.
//
// In a Batch, a partition's head is read once: the batch holds the write lock,
// so the record it appended last stays the last until it ends (or until a
// Batch nested in it is rolled back, which forgets what it knew).
func (s *Store) AppendAudit(ctx context.Context, rec guard.AuditRecord) (guard.AuditRecord, error) {
	if rec.Partition == "" {
		return guard.AuditRecord{}, fmt.Errorf("sqlite: append audit %s %s: empty partition", rec.Kind, rec.Subject)
	}
	var out guard.AuditRecord
	b := s.batchOf(ctx)
	err := s.write(ctx, func(q querier) error {
		head, known := auditHead{}, false
		if b != nil {
			head, known = b.heads[rec.Partition]
		}
		if !known {
			err := q.QueryRowContext(ctx, sqlAuditHead, rec.Partition).Scan(&head.seq, &head.hash)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("read the head of the chain: %w", err)
			}
		}
		out = guard.SealAudit(rec, head.seq+1, head.hash)
		c := out
		c.Partition, c.Seq, c.Data = "", 0, nil
		doc, err := json.Marshal(&c)
		if err != nil {
			return fmt.Errorf("encode record: %w", err)
		}
		if _, err := q.ExecContext(ctx, sqlAuditInsert, out.Partition, out.Seq, string(doc), raw(rec.Data)); err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, sqlAuditSetHead, out.Partition, out.Seq, out.Hash, formatTime(out.At))
		return err
	})
	if err != nil {
		return guard.AuditRecord{}, fmt.Errorf("sqlite: append audit %s %s to %s: %w", rec.Kind, rec.Subject, rec.Partition, err)
	}
	if b != nil { // the batch holds the write lock: this is the head until it ends
		b.setHead(out.Partition, auditHead{seq: out.Seq, hash: out.Hash})
	}
	out.Data = nil
	if len(rec.Data) > 0 {
		out.Data = append(json.RawMessage(nil), rec.Data...)
	}
	return out, nil
}

// auditHead is the Seq and Hash of a chain's last record.
type auditHead struct {
	seq  int64
	hash string
}

// ListAudit returns up to limit records of the partition with Seq greater than
// after, in Seq order. A limit of zero or less returns none.
func (s *Store) ListAudit(ctx context.Context, partition string, after int64, limit int) ([]guard.AuditRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	return list(ctx, s.q(ctx), fmt.Sprintf("list audit of %s after %d", partition, after), sqlAuditList, []any{partition, after, limit},
		func(rows *sql.Rows) (guard.AuditRecord, error) {
			var seq int64
			var doc string
			var data []byte
			if err := rows.Scan(&seq, &doc, &data); err != nil {
				return guard.AuditRecord{}, err
			}
			var rec guard.AuditRecord
			if err := fastjson.Unmarshal([]byte(doc), &rec); err != nil {
				return guard.AuditRecord{}, fmt.Errorf("decode record %d: %w", seq, err)
			}
			rec.Partition, rec.Seq = partition, seq
			if len(data) > 0 {
				rec.Data = json.RawMessage(data)
			}
			return rec, nil
		})
}

// AuditHeads returns the head of every chain whose last record's At is at or
// after since, sorted by partition: what the store appended last to each,
// whatever was done to the records behind its back since.
func (s *Store) AuditHeads(ctx context.Context, since time.Time) ([]guard.AuditHead, error) {
	return list(ctx, s.q(ctx), "list audit heads", sqlAuditHeads, []any{formatTime(since)},
		func(rows *sql.Rows) (guard.AuditHead, error) {
			var h guard.AuditHead
			var at string
			if err := rows.Scan(&h.Partition, &h.Seq, &h.Hash, &at); err != nil {
				return h, err
			}
			t, err := time.Parse(timeFormat, at)
			if err != nil {
				return h, fmt.Errorf("decode the time of the head of %s: %w", h.Partition, err)
			}
			h.At = t
			return h, nil
		})
}
