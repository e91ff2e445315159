package cosmos

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"
)

// headID is the ID of a partition's head document.
const headID = "head"

// maxSeen is how many event keys a head keeps at most (the newest).
const maxSeen = 2000

// maxPKBytes is the longest partition kept as its own partition key; a longer
// one is kept under "~" and its SHA-256.
const maxPKBytes = 1000

// pkOfPartition is the partition key (the /pk value) of a partition.
func pkOfPartition(partition string) string {
	if len(partition) <= maxPKBytes {
		return partition
	}
	sum := sha256.Sum256([]byte(partition))
	return "~" + hex.EncodeToString(sum[:])
}

// partitionKey is the azcosmos partition key of a partition.
func partitionKey(partition string) azcosmos.PartitionKey {
	return azcosmos.NewPartitionKeyString(pkOfPartition(partition))
}

// auditHeadDoc is the last record of a partition's chain, kept in its head.
type auditHeadDoc struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash,omitempty"`
	At   string `json:"at,omitempty"` // timeKey of the record's At, for AuditHeads' filter
}

// headDoc is the head document of a partition: what a change reads and
// replaces, conditionally on its ETag, in every commit (see the package
// documentation). FindingIDs and Statuses repeat what Findings holds, so that
// cross-partition queries can select heads without a JOIN.
type headDoc struct {
	ID        string `json:"id"` // headID
	PK        string `json:"pk"`
	Partition string `json:"partition"`
	Kind      string `json:"kind"` // "head"
	WriteID   string `json:"writeId"`
	// Resources holds guard.Resource documents by guard.IDKey, and Findings
	// guard.Finding documents by ID, kept encoded: every read decodes a copy
	// of its own, and writing the head encodes none of them again.
	Resources  map[string]json.RawMessage `json:"resources"`
	Findings   map[string]json.RawMessage `json:"findings"`
	Seen       map[string]time.Time       `json:"seen"` // event key: when it was marked processed
	Audit      auditHeadDoc               `json:"audit"`
	FindingIDs []string                   `json:"findingIds"`
	Statuses   []string                   `json:"statuses"`
}

// emptyHead is the head of a partition with nothing stored yet.
func emptyHead(partition string) *headDoc {
	return &headDoc{ID: headID, PK: pkOfPartition(partition), Partition: partition, Kind: "head",
		Resources: map[string]json.RawMessage{}, Findings: map[string]json.RawMessage{}, Seen: map[string]time.Time{}}
}

// decodeHead decodes a head document; nil maps become empty ones.
func decodeHead(b []byte) (*headDoc, error) {
	var h headDoc
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("decode partition head: %w", err)
	}
	if h.Resources == nil {
		h.Resources = map[string]json.RawMessage{}
	}
	if h.Findings == nil {
		h.Findings = map[string]json.RawMessage{}
	}
	if h.Seen == nil {
		h.Seen = map[string]time.Time{}
	}
	return &h, nil
}

// clone returns a copy of h that can be changed without changing h (the
// encoded findings and resources are shared: they are replaced, never changed
// in place).
func (h *headDoc) clone() *headDoc {
	c := *h
	c.Resources, c.Findings, c.Seen = maps.Clone(h.Resources), maps.Clone(h.Findings), maps.Clone(h.Seen)
	return &c
}

// encode returns the document to write: the derived arrays set, the seen keys
// pruned (older than ttl before the newest, when ttl > 0; at most maxSeen, the
// newest), the write ID set.
func (h *headDoc) encode(writeID string, ttl time.Duration) ([]byte, error) {
	h.WriteID = writeID
	pruneSeen(h.Seen, ttl, maxSeen)
	h.FindingIDs = slices.Sorted(maps.Keys(h.Findings))
	statuses := map[string]bool{}
	for id, raw := range h.Findings {
		var f struct {
			Status string `json:"status"`
		}
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, fmt.Errorf("encode partition head: finding %s: %w", id, err)
		}
		statuses[f.Status] = true
	}
	h.Statuses = slices.Sorted(maps.Keys(statuses))
	b, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode partition head: %w", err)
	}
	return b, nil
}

// pruneSeen drops the keys marked more than ttl before the newest one (none
// when ttl <= 0), then all but the newest max (ties kept by key order). The
// age is measured from the newest key rather than from the clock, so that a
// replay of a recorded session, whose times lie in the past, keeps its keys.
func pruneSeen(seen map[string]time.Time, ttl time.Duration, max int) {
	if len(seen) == 0 {
		return
	}
	var newest time.Time
	for _, at := range seen {
		if at.After(newest) {
			newest = at
		}
	}
	if ttl > 0 {
		cut := newest.Add(-ttl)
		for k, at := range seen {
			if at.Before(cut) {
				delete(seen, k)
			}
		}
	}
	if len(seen) <= max {
		return
	}
	keys := slices.Collect(maps.Keys(seen))
	slices.SortFunc(keys, func(a, b string) int {
		if c := seen[b].Compare(seen[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for _, k := range keys[max:] {
		delete(seen, k)
	}
}
