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
	sqlAuditSeqUsed = prepared("SELECT seq FROM sqlite_sequence WHERE name = 'audit'")
	sqlAuditInsert  = prepared("INSERT INTO audit (seq, doc, data) VALUES (?, ?, ?)")
	sqlAuditLast    = prepared("SELECT seq, doc FROM audit ORDER BY seq DESC LIMIT 1")
	sqlAuditList    = prepared("SELECT seq, doc, data FROM audit WHERE seq > ? ORDER BY seq LIMIT ?")
)

// AppendAudit appends a record and returns it as stored: in the write
// transaction it reads the last record, and takes the Seq after it and its
// Hash as PrevHash (see guard.SealAudit), so that appenders, also in other
// processes sharing the file, build one chain with Seqs from 1 without gaps.
// The Seq, PrevHash and Hash given are ignored; Data is kept byte for byte.
//
// In a Batch, the chain's head is read once: the batch holds the write lock, so
// the record it appended last stays the last until it ends.
//
// The Seq is also past every Seq ever used (SQLite keeps the highest for an
// AUTOINCREMENT key), so that records deleted from the end of the trail behind
// the store's back leave a gap once the next record is appended, which
// VerifyAudit reports, rather than Seqs taken again.
func (s *Store) AppendAudit(ctx context.Context, rec guard.AuditRecord) (guard.AuditRecord, error) {
	var out guard.AuditRecord
	b := s.batchOf(ctx)
	err := s.write(ctx, func(q querier) error {
		var seq int64
		var prevHash string
		if b != nil && b.auditKnown {
			seq, prevHash = b.auditSeq, b.auditHash
		} else {
			last, hash, err := lastAudit(ctx, q)
			if err != nil {
				return err
			}
			var used int64
			err = q.QueryRowContext(ctx, sqlAuditSeqUsed).Scan(&used)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("read the highest Seq used: %w", err)
			}
			seq, prevHash = max(last, used), hash
		}
		out = guard.SealAudit(rec, seq+1, prevHash)
		c := out
		c.Seq, c.Data = 0, nil
		doc, err := json.Marshal(&c)
		if err != nil {
			return fmt.Errorf("encode record: %w", err)
		}
		_, err = q.ExecContext(ctx, sqlAuditInsert, out.Seq, string(doc), raw(rec.Data))
		return err
	})
	if err != nil {
		return guard.AuditRecord{}, fmt.Errorf("sqlite: append audit %s %s: %w", rec.Kind, rec.Subject, err)
	}
	if b != nil { // the batch holds the write lock: this is the head until it ends
		b.auditKnown, b.auditSeq, b.auditHash = true, out.Seq, out.Hash
	}
	out.Data = nil
	if len(rec.Data) > 0 {
		out.Data = append(json.RawMessage(nil), rec.Data...)
	}
	return out, nil
}

// lastAudit returns the Seq and Hash of the last record (0 and "" when there
// is none). A record written before the trail was chained has no Hash, and
// the one after it chains to "": VerifyAudit reports the first such record.
func lastAudit(ctx context.Context, q querier) (int64, string, error) {
	var seq int64
	var doc string
	err := q.QueryRowContext(ctx, sqlAuditLast).Scan(&seq, &doc)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("read the last record: %w", err)
	}
	var last guard.AuditRecord
	if err := fastjson.Unmarshal([]byte(doc), &last); err != nil {
		return 0, "", fmt.Errorf("decode the last record, %d: %w", seq, err)
	}
	return seq, last.Hash, nil
}

// ListAudit returns up to limit records with Seq greater than after, in Seq
// order. A limit of zero or less returns none.
func (s *Store) ListAudit(ctx context.Context, after int64, limit int) ([]guard.AuditRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	return list(ctx, s.q(ctx), fmt.Sprintf("list audit after %d", after), sqlAuditList, []any{after, limit},
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
			rec.Seq = seq
			if len(data) > 0 {
				rec.Data = json.RawMessage(data)
			}
			return rec, nil
		})
}
