package cosmos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"

	"github.com/exportguard/exportguard/pkg/guard"
)

// auditBucketSize is how many consecutive Seqs share a partition of the audit
// container: bucket b holds Seqs b×1000 to b×1000+999. (Tests use smaller
// buckets, through Store.auditBucket.)
const auditBucketSize = 1000

// tailID is the ID (and partition key) of the audit container's tail document.
const tailID = "tail"

// auditDoc is an audit record as stored in the audit container.
type auditDoc struct {
	ID      string            `json:"id"`     // the Seq in decimal: unique in its bucket, hence in the container
	Bucket  string            `json:"bucket"` // Seq / bucket size, in decimal: the partition key
	Seq     int64             `json:"seq"`
	WriteID string            `json:"writeId"` // the AppendAudit call that wrote it
	Record  guard.AuditRecord `json:"record"`  // without its Data
	Data    string            `json:"data,omitempty"`
}

// tailDoc says that the audit record with this Seq exists: appenders start
// looking for a free Seq after it.
type tailDoc struct {
	ID      string `json:"id"`
	Bucket  string `json:"bucket"`
	Seq     int64  `json:"seq"`
	WriteID string `json:"writeId"`
}

func (s *Store) bucketOf(seq int64) string { return strconv.FormatInt(seq/s.auditBucket, 10) }

// AppendAudit appends a record and returns it as stored: under the lowest
// free Seq after the tail document's, taken by creating the record under it (a
// create of an ID that exists fails, so each Seq is taken once), chained to
// the record before it, whose Hash it reads before each try (see
// guard.SealAudit). Seqs have no gaps, and a record exists only once every
// lower Seq does, so the record before is always there to chain to, and a
// record that lost its Seq to another appender is chained again to the
// winner. The Seq, PrevHash and Hash given are ignored; Data is kept byte for
// byte.
func (s *Store) AppendAudit(ctx context.Context, rec guard.AuditRecord) (guard.AuditRecord, error) {
	out, err := s.appendAudit(ctx, rec)
	if err != nil {
		return guard.AuditRecord{}, fmt.Errorf("cosmos: append audit %s %s: %w", rec.Kind, rec.Subject, err)
	}
	return out, nil
}

func (s *Store) appendAudit(ctx context.Context, rec guard.AuditRecord) (guard.AuditRecord, error) {
	c := s.container(cAudit)
	data := string(rec.Data)
	doc := auditDoc{WriteID: newWriteID(), Data: data}
	last, err := s.auditTail(ctx)
	if err != nil {
		return guard.AuditRecord{}, err
	}
	seq := last + 1
	var out guard.AuditRecord
	for attempt := 1; ; attempt++ {
		prev, err := s.prevHash(ctx, seq)
		if err != nil {
			return guard.AuditRecord{}, err
		}
		out = guard.SealAudit(rec, seq, prev)
		doc.Seq, doc.ID, doc.Bucket = seq, strconv.FormatInt(seq, 10), s.bucketOf(seq)
		doc.Record = out
		doc.Record.Data, doc.Record.Seq = nil, 0
		b, err := json.Marshal(doc)
		if err != nil {
			return guard.AuditRecord{}, fmt.Errorf("encode record: %w", err)
		}
		err = createItem(ctx, c, azcosmos.NewPartitionKeyString(doc.Bucket), b)
		if err == nil {
			break
		}
		if !isStatus(err, http.StatusConflict) {
			return guard.AuditRecord{}, fmt.Errorf("create record %d: %w", seq, err)
		}
		// Seq is taken: by another appender, or by this very call when the
		// answer to its create was lost and the create, sent again, met it.
		mine, err := s.auditWrittenBy(ctx, seq, doc.WriteID)
		if err != nil {
			return guard.AuditRecord{}, err
		}
		if mine {
			break
		}
		if attempt >= s.attempts {
			return guard.AuditRecord{}, fmt.Errorf("%w: other appenders took %d Seqs in a row", guard.ErrConflict, attempt)
		}
		if last, err = s.auditTail(ctx); err != nil {
			return guard.AuditRecord{}, err
		}
		seq = max(seq, last) + 1
		if err := backoff(ctx, attempt); err != nil {
			return guard.AuditRecord{}, err
		}
	}
	s.advanceTail(ctx, seq)
	out.Data = nil
	if data != "" {
		out.Data = json.RawMessage(data)
	}
	return out, nil
}

// prevAttempts bounds how often prevHash looks for a record that should be
// there: a replica a little behind may not have it yet.
const prevAttempts = 5

// prevHash returns the Hash of the record before seq ("" for Seq 1). That
// record exists, since seq follows the tail's Seq or a Seq found taken; when it
// cannot be found, it was removed behind the store's back, and the append
// fails rather than chain past the hole.
func (s *Store) prevHash(ctx context.Context, seq int64) (string, error) {
	if seq <= 1 {
		return "", nil
	}
	prev := seq - 1
	for attempt := 1; ; attempt++ {
		b, _, err := readItem(ctx, s.container(cAudit), azcosmos.NewPartitionKeyString(s.bucketOf(prev)), strconv.FormatInt(prev, 10))
		if err != nil {
			return "", fmt.Errorf("read record %d to chain to: %w", prev, err)
		}
		if b != nil {
			var d auditDoc
			if err := json.Unmarshal(b, &d); err != nil {
				return "", fmt.Errorf("decode record %d to chain to: %w", prev, err)
			}
			return d.Record.Hash, nil
		}
		if attempt >= prevAttempts {
			return "", fmt.Errorf("record %d, which record %d must chain to, is missing: it was removed behind the store's back (exportguard audit verify names what is wrong)", prev, seq)
		}
		if err := backoff(ctx, attempt); err != nil {
			return "", err
		}
	}
}

// auditTail returns the Seq of the tail document (0 when there is none).
func (s *Store) auditTail(ctx context.Context) (int64, error) {
	b, _, err := readItem(ctx, s.container(cAudit), azcosmos.NewPartitionKeyString(tailID), tailID)
	if err != nil || b == nil {
		return 0, wrapIf("read audit tail", err)
	}
	var t tailDoc
	if err := json.Unmarshal(b, &t); err != nil {
		return 0, fmt.Errorf("decode audit tail: %w", err)
	}
	return t.Seq, nil
}

// auditWrittenBy reports whether the record with this Seq was written by the
// AppendAudit call with this write ID.
func (s *Store) auditWrittenBy(ctx context.Context, seq int64, writeID string) (bool, error) {
	b, _, err := readItem(ctx, s.container(cAudit), azcosmos.NewPartitionKeyString(s.bucketOf(seq)), strconv.FormatInt(seq, 10))
	if err != nil {
		return false, fmt.Errorf("read record %d: %w", seq, err)
	}
	return b != nil && writeIDOf(b) == writeID, nil
}

// advanceTail moves the tail document up to seq unless it is there already.
// The tail is a hint: when moving it fails, appenders find the free Seq by
// trying the ones after it, so the record just appended stands and the error
// is dropped (reporting it would invite a second append of the same record).
func (s *Store) advanceTail(ctx context.Context, seq int64) {
	pk := azcosmos.NewPartitionKeyString(tailID)
	_ = s.change(ctx, s.container(cAudit), pk, tailID, func(cur []byte, writeID string) ([]byte, error) {
		var t tailDoc
		if cur != nil {
			if err := json.Unmarshal(cur, &t); err != nil {
				return nil, err
			}
			if t.Seq >= seq {
				return nil, nil
			}
		}
		return json.Marshal(tailDoc{ID: tailID, Bucket: tailID, Seq: seq, WriteID: writeID})
	})
}

// ListAudit returns up to limit records with Seq greater than after, in Seq
// order. A limit of zero or less returns none. It reads bucket after bucket,
// each with a query in one partition (ORDER BY and TOP are served there). A
// bucket that ends before its last Seq ends the trail, since a record exists
// only once every lower one does, unless the tail document lies in a later
// bucket: then records were removed behind the store's back, and the records
// after the hole are read on, for VerifyAudit to see the gap.
func (s *Store) ListAudit(ctx context.Context, after int64, limit int) ([]guard.AuditRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	after = max(after, 0)
	bucket := (after + 1) / s.auditBucket
	tail := int64(-1) // not read yet
	var out []guard.AuditRecord
	for len(out) < limit {
		n := limit - len(out)
		page, err := s.auditPage(ctx, bucket, after, n)
		if err != nil {
			return nil, fmt.Errorf("cosmos: list audit after %d: %w", after, err)
		}
		out = append(out, page...)
		if len(page) > 0 {
			after = page[len(page)-1].Seq
		}
		if len(page) == n {
			continue
		}
		end := (bucket+1)*s.auditBucket - 1 // the bucket's last Seq
		if after < end {
			if tail < 0 {
				if tail, err = s.auditTail(ctx); err != nil {
					return nil, fmt.Errorf("cosmos: list audit after %d: %w", after, err)
				}
			}
			if tail <= end {
				break
			}
		}
		bucket++
	}
	return out, nil
}

// auditPage returns up to n records of one bucket with Seq greater than after.
func (s *Store) auditPage(ctx context.Context, bucket, after int64, n int) ([]guard.AuditRecord, error) {
	b := strconv.FormatInt(bucket, 10)
	sql := fmt.Sprintf("SELECT TOP %d * FROM c WHERE c.bucket = @bucket AND c.seq > @after ORDER BY c.seq", n)
	docs, err := queryDocs[auditDoc](ctx, s.container(cAudit), azcosmos.NewPartitionKeyString(b), sql,
		[]azcosmos.QueryParameter{param("@bucket", b), param("@after", after)})
	if err != nil {
		return nil, err
	}
	out := make([]guard.AuditRecord, 0, len(docs))
	for _, d := range docs {
		rec := d.Record
		rec.Seq = d.Seq
		if d.Data != "" {
			rec.Data = json.RawMessage(d.Data)
		}
		out = append(out, rec)
	}
	return out, nil
}

// wrapIf wraps err with what was being done, or returns nil.
func wrapIf(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
