package cosmos

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"

	"github.com/exportguard/exportguard/pkg/guard"
)

// auditDoc is an audit record as kept in its partition, under the ID
// auditDocID(Seq).
type auditDoc struct {
	ID        string            `json:"id"`
	PK        string            `json:"pk"`
	Partition string            `json:"partition"`
	Kind      string            `json:"kind"` // "audit"
	Seq       int64             `json:"seq"`
	Record    guard.AuditRecord `json:"record"`         // without its Data
	Data      string            `json:"data,omitempty"` // byte for byte: the hash covers its bytes
}

// auditDocID is the document ID of the record with this Seq: zero-padded, so
// that ID order is Seq order.
func auditDocID(seq int64) string { return fmt.Sprintf("audit-%012d", seq) }

// AppendAudit appends a record to the chain of rec.Partition, committed with
// the rest of the Batch of ctx: the partition's head holds its chain's last
// Seq and Hash, so the record takes the next Seq and chains to that Hash, and
// is created in the same transactional batch that replaces the head
// conditionally. Two appenders of one partition cannot both commit on the same
// head; the loser runs again after the winner's record. The Seq, PrevHash and
// Hash given are ignored; Data is kept byte for byte.
func (s *Store) AppendAudit(ctx context.Context, rec guard.AuditRecord) (guard.AuditRecord, error) {
	if rec.Partition == "" {
		return guard.AuditRecord{}, fmt.Errorf("cosmos: append audit %s %s: empty partition", rec.Kind, rec.Subject)
	}
	var out guard.AuditRecord
	err := s.inUnit(ctx, func(ctx context.Context, u *unit) error {
		p, err := s.loadForWrite(ctx, u, rec.Partition)
		if err != nil {
			return err
		}
		a := p.head.Audit
		out = guard.SealAudit(rec, a.Seq+1, a.Hash)
		d := auditDoc{ID: auditDocID(out.Seq), PK: pkOfPartition(rec.Partition), Partition: rec.Partition, Kind: "audit",
			Seq: out.Seq, Record: out, Data: string(out.Data)}
		d.Record.Data, d.Record.Seq = nil, 0
		p.audits = append(p.audits, d)
		p.head.Audit = auditHeadDoc{Seq: out.Seq, Hash: out.Hash, At: timeKey(out.At)}
		u.wrote(p)
		return nil
	})
	if err != nil {
		return guard.AuditRecord{}, fmt.Errorf("cosmos: append audit %s %s: %w", rec.Kind, rec.Subject, err)
	}
	if len(out.Data) > 0 {
		out.Data = append(json.RawMessage(nil), out.Data...)
	}
	return out, nil
}

// ListAudit returns up to limit records of the partition with Seq greater than
// after, in Seq order: a query in the one partition (where ORDER BY and TOP
// are served), then the records the Batch of ctx has appended and not yet
// committed. A limit of zero or less returns none.
func (s *Store) ListAudit(ctx context.Context, partition string, after int64, limit int) ([]guard.AuditRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	after = max(after, 0)
	// c.pk repeats the partition key: the local test server applies TOP
	// before it keeps the partition's documents only.
	sql := fmt.Sprintf("SELECT TOP %d * FROM c WHERE c.pk = @pk AND c.kind = 'audit' AND c.seq > @after ORDER BY c.seq", limit)
	docs, err := queryDocs[auditDoc](ctx, s.container(cPartitions), partitionKey(partition), sql,
		[]azcosmos.QueryParameter{param("@pk", pkOfPartition(partition)), param("@after", after)})
	if err != nil {
		return nil, fmt.Errorf("cosmos: list audit of %s after %d: %w", partition, after, err)
	}
	var pending []auditDoc
	for a := unitOf(ctx); a != nil && pending == nil; a = a.parent {
		if p, ok := a.parts[partition]; ok {
			pending = p.audits
		}
	}
	out := make([]guard.AuditRecord, 0, len(docs))
	for _, d := range slices.Concat(docs, pending) {
		if len(out) == limit {
			break
		}
		if d.Partition != partition || d.Seq <= after || len(out) > 0 && d.Seq <= out[len(out)-1].Seq {
			continue
		}
		out = append(out, d.record())
	}
	return out, nil
}

// record is the record a document keeps.
func (d auditDoc) record() guard.AuditRecord {
	rec := d.Record
	rec.Seq = d.Seq
	if d.Data != "" {
		rec.Data = json.RawMessage(d.Data)
	}
	return rec
}

// AuditHeads returns the last record of every partition's chain whose At is
// at or after since, the seal chain included, sorted by partition: a query
// across partitions of the heads (and, inside a Batch, the heads it has read).
func (s *Store) AuditHeads(ctx context.Context, since time.Time) ([]guard.AuditHead, error) {
	at := ""
	if !since.IsZero() {
		at = timeKey(since)
	}
	heads, err := s.queryHeads(ctx, "SELECT c.partition, c.audit FROM c WHERE c.kind = 'head' AND c.audit.seq > 0 AND c.audit.at >= @since",
		[]azcosmos.QueryParameter{param("@since", at)})
	if err != nil {
		return nil, fmt.Errorf("cosmos: list audit heads: %w", err)
	}
	var out []guard.AuditHead
	for _, h := range heads {
		if h.Audit.Seq <= 0 || h.Audit.At < at {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, h.Audit.At)
		if err != nil {
			return nil, fmt.Errorf("cosmos: list audit heads: partition %s: %w", h.Partition, err)
		}
		out = append(out, guard.AuditHead{Partition: h.Partition, Seq: h.Audit.Seq, Hash: h.Audit.Hash, At: t})
	}
	slices.SortFunc(out, func(a, b guard.AuditHead) int {
		return cmp.Or(strings.Compare(a.Partition, b.Partition), cmp.Compare(a.Seq, b.Seq))
	})
	return out, nil
}
