package cosmos

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"

	"github.com/exportguard/exportguard/pkg/guard"
)

var _ guard.LegacyStore = (*Legacy)(nil)

// Legacy reads a database of the layout before partitions, for `exportguard
// store migrate`: containers findings, resources, outbox and grants, each
// partitioned by /id, and audit, partitioned by /bucket (Seq/1000) with a tail
// document. It only reads.
type Legacy struct {
	client     *azcosmos.Client
	containers map[string]*azcosmos.ContainerClient
}

// legacyBucketSize is how many consecutive Seqs shared a partition of the old
// audit container.
const legacyBucketSize = 1000

// OpenLegacy opens a database of the old layout for reading. It creates
// nothing (EnsureContainers is ignored) and fails when a container it reads
// is missing.
func OpenLegacy(ctx context.Context, o Options) (*Legacy, error) {
	ep, err := checkEndpoint(o.Endpoint, o.Key != "")
	if err != nil {
		return nil, fmt.Errorf("cosmos: open legacy: %w", err)
	}
	if err := checkName(o.Database); err != nil {
		return nil, fmt.Errorf("cosmos: open legacy %s: database: %w", ep.Host, err)
	}
	where := fmt.Sprintf("%s database %s", ep.Host, o.Database)
	client, err := newClient(o, ep.String(), isGovernment(ep.Hostname()))
	if err != nil {
		return nil, fmt.Errorf("cosmos: open legacy %s: %w", where, err)
	}
	l := &Legacy{client: client, containers: map[string]*azcosmos.ContainerClient{}}
	db, err := client.NewDatabase(o.Database)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("cosmos: open legacy %s: %w", where, err)
	}
	for _, name := range []string{"findings", "resources", "outbox", "audit", cGrants} {
		c, err := db.NewContainer(name)
		if err == nil {
			_, err = c.Read(ctx, nil)
		}
		if err != nil {
			client.Close()
			return nil, fmt.Errorf("cosmos: open legacy %s: container %s: %w", where, name, err)
		}
		l.containers[name] = c
	}
	return l, nil
}

// Close releases the client's caches.
func (l *Legacy) Close() error {
	l.client.Close()
	return nil
}

// ListFindings returns every finding, sorted by resource ID key, rule and ID.
// A transition stored but not yet told (the old "pending") is dropped: the
// new model has none.
func (l *Legacy) ListFindings(ctx context.Context) ([]guard.Finding, error) {
	docs, err := queryDocs[struct {
		Finding guard.Finding `json:"finding"`
	}](ctx, l.containers["findings"], crossPartition, "SELECT * FROM c", nil)
	if err != nil {
		return nil, fmt.Errorf("cosmos: legacy: list findings: %w", err)
	}
	out := make([]guard.Finding, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.Finding)
	}
	slices.SortFunc(out, func(a, b guard.Finding) int {
		return cmp.Or(strings.Compare(guard.IDKey(a.ResourceID), guard.IDKey(b.ResourceID)),
			strings.Compare(a.Rule, b.Rule), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// ListResources returns every resource with a known state, sorted by ID key.
func (l *Legacy) ListResources(ctx context.Context) ([]guard.Resource, error) {
	docs, err := queryDocs[struct {
		IDKey    string         `json:"idKey"`
		Resource guard.Resource `json:"resource"`
	}](ctx, l.containers["resources"], crossPartition, "SELECT * FROM c", nil)
	if err != nil {
		return nil, fmt.Errorf("cosmos: legacy: list resources: %w", err)
	}
	slices.SortFunc(docs, func(a, b struct {
		IDKey    string         `json:"idKey"`
		Resource guard.Resource `json:"resource"`
	}) int {
		return strings.Compare(a.IDKey, b.IDKey)
	})
	out := make([]guard.Resource, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.Resource)
	}
	return out, nil
}

// ListOutbox returns every item, oldest CreatedAt first, then by ID; their
// Partition is empty.
func (l *Legacy) ListOutbox(ctx context.Context) ([]guard.OutboxItem, error) {
	docs, err := queryDocs[struct {
		Item guard.OutboxItem `json:"item"`
	}](ctx, l.containers["outbox"], crossPartition, "SELECT * FROM c", nil)
	if err != nil {
		return nil, fmt.Errorf("cosmos: legacy: list outbox: %w", err)
	}
	out := make([]guard.OutboxItem, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.Item)
	}
	sortOutbox(out)
	return out, nil
}

// ListGrants returns every grant, sorted by End then ID.
func (l *Legacy) ListGrants(ctx context.Context) ([]guard.Grant, error) {
	docs, err := queryDocs[grantDoc](ctx, l.containers[cGrants], crossPartition, "SELECT * FROM c", nil)
	if err != nil {
		return nil, fmt.Errorf("cosmos: legacy: list grants: %w", err)
	}
	out := make([]guard.Grant, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.Grant)
	}
	slices.SortFunc(out, func(a, b guard.Grant) int {
		return cmp.Or(a.End.Compare(b.End), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// legacyAuditDoc is an audit record of the old audit container.
type legacyAuditDoc struct {
	Seq    int64             `json:"seq"`
	Record guard.AuditRecord `json:"record"` // without its Data
	Data   string            `json:"data,omitempty"`
}

// ListAudit returns up to limit records of the old chain with Seq greater
// than after, in Seq order, reading bucket after bucket with a query in each
// (ORDER BY and TOP are served in one partition). A bucket that ends before
// its last Seq ends the chain, unless the tail document lies beyond it:
// records were then removed behind the store's back, and the records after the
// hole are read on, for the verifier to see the gap.
func (l *Legacy) ListAudit(ctx context.Context, after int64, limit int) ([]guard.AuditRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	after = max(after, 0)
	bucket := (after + 1) / legacyBucketSize
	tail := int64(-1) // not read yet
	var out []guard.AuditRecord
	for len(out) < limit {
		n := limit - len(out)
		page, err := l.auditPage(ctx, bucket, after, n)
		if err != nil {
			return nil, fmt.Errorf("cosmos: legacy: list audit after %d: %w", after, err)
		}
		out = append(out, page...)
		if len(page) > 0 {
			after = page[len(page)-1].Seq
		}
		if len(page) == n {
			continue
		}
		end := (bucket+1)*legacyBucketSize - 1 // the bucket's last Seq
		if after < end {
			if tail < 0 {
				if tail, err = l.auditTail(ctx); err != nil {
					return nil, fmt.Errorf("cosmos: legacy: list audit after %d: %w", after, err)
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
func (l *Legacy) auditPage(ctx context.Context, bucket, after int64, n int) ([]guard.AuditRecord, error) {
	b := strconv.FormatInt(bucket, 10)
	sql := fmt.Sprintf("SELECT TOP %d * FROM c WHERE c.bucket = @bucket AND c.seq > @after ORDER BY c.seq", n)
	docs, err := queryDocs[legacyAuditDoc](ctx, l.containers["audit"], azcosmos.NewPartitionKeyString(b), sql,
		[]azcosmos.QueryParameter{param("@bucket", b), param("@after", after)})
	if err != nil {
		return nil, err
	}
	out := make([]guard.AuditRecord, 0, len(docs))
	for _, d := range docs {
		rec := d.Record
		rec.Seq, rec.Partition = d.Seq, ""
		if d.Data != "" {
			rec.Data = json.RawMessage(d.Data)
		}
		out = append(out, rec)
	}
	return out, nil
}

// auditTail returns the Seq of the old tail document (0 when there is none).
func (l *Legacy) auditTail(ctx context.Context) (int64, error) {
	b, _, err := readItem(ctx, l.containers["audit"], azcosmos.NewPartitionKeyString("tail"), "tail")
	if err != nil {
		return 0, fmt.Errorf("read audit tail: %w", err)
	}
	if b == nil {
		return 0, nil
	}
	var t struct {
		Seq int64 `json:"seq"`
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return 0, fmt.Errorf("decode audit tail: %w", err)
	}
	return t.Seq, nil
}
