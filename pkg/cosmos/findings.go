package cosmos

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"

	"github.com/exportguard/exportguard/pkg/guard"
)

// GetFinding returns the finding with this ID, or an error wrapping
// guard.ErrNotFound: from the partitions the Batch of ctx has read, or with a
// query across partitions for the head whose findingIds hold the ID (the
// caller knows no partition).
func (s *Store) GetFinding(ctx context.Context, id string) (*guard.Finding, error) {
	if u := unitOf(ctx); u != nil {
		for a := u; a != nil; a = a.parent {
			for _, p := range a.parts {
				if raw, ok := p.head.Findings[id]; ok {
					return decodeFinding(raw)
				}
			}
		}
	}
	heads, err := queryDocs[headDoc](ctx, s.container(cPartitions), crossPartition,
		"SELECT c.partition, c.findings FROM c WHERE c.kind = 'head' AND ARRAY_CONTAINS(c.findingIds, @id)",
		[]azcosmos.QueryParameter{param("@id", id)})
	if err != nil {
		return nil, fmt.Errorf("cosmos: get finding %s: %w", id, err)
	}
	for _, h := range heads {
		if raw, ok := h.Findings[id]; ok {
			f, err := decodeFinding(raw)
			if err != nil {
				return nil, fmt.Errorf("cosmos: get finding %s: %w", id, err)
			}
			return f, nil
		}
	}
	return nil, fmt.Errorf("cosmos: get finding %s: %w", id, guard.ErrNotFound)
}

// UpdateFinding reads the finding from its partition's head, calls fn with a
// copy of its own, and keeps what fn returns in the head, committed with the
// rest of the Batch of ctx (or, outside a Batch, at once): one conditional
// transactional batch, run again from a fresh read when another writer changed
// the partition first. The finding fn returns is stored under id; an empty ID
// is set to id; another ID, or a resource of another partition, is refused.
func (s *Store) UpdateFinding(ctx context.Context, partition, id string, fn func(cur *guard.Finding) (*guard.Finding, error)) (*guard.Finding, error) {
	if id == "" {
		return nil, errors.New("cosmos: update finding: empty ID")
	}
	if partition == "" {
		return nil, fmt.Errorf("cosmos: update finding %s: empty partition", id)
	}
	var out *guard.Finding
	err := s.inUnit(ctx, func(ctx context.Context, u *unit) error {
		out = nil
		p, err := s.loadForWrite(ctx, u, partition)
		if err != nil {
			return err
		}
		var cur *guard.Finding
		if raw, ok := p.head.Findings[id]; ok {
			if cur, err = decodeFinding(raw); err != nil {
				return err
			}
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		if next == nil {
			if raw, ok := p.head.Findings[id]; ok {
				out, err = decodeFinding(raw) // not cur: fn may have changed it
			}
			return err
		}
		n := *next
		switch {
		case n.ID == "":
			n.ID = id
		case n.ID != id:
			return fmt.Errorf("fn returned finding %s", n.ID)
		}
		if got := guard.PartitionOf(n.ResourceID); got != partition {
			return fmt.Errorf("fn returned a finding about %s, of partition %s, not %s", n.ResourceID, got, partition)
		}
		raw, err := encodeFinding(&n)
		if err != nil {
			return err
		}
		if out, err = decodeFinding(raw); err != nil {
			return err
		}
		p.head.Findings[id] = raw
		u.wrote(p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cosmos: update finding %s: %w", id, err)
	}
	return out, nil
}

// ListFindings returns the findings matching f, sorted by resource ID key, rule
// and finding ID. A filter on a resource reads its partition's head; any other
// is a query across partitions for the heads that hold a finding of the status
// asked for (filters only: the rest of the filter and the order are applied
// here). Inside a Batch, the heads it has read stand for the stored ones.
func (s *Store) ListFindings(ctx context.Context, f guard.FindingFilter) ([]guard.Finding, error) {
	var heads []*headDoc
	if f.ResourceID != "" {
		h, err := s.peek(ctx, guard.PartitionOf(f.ResourceID))
		if err != nil {
			return nil, fmt.Errorf("cosmos: list findings: %w", err)
		}
		heads = append(heads, h)
	} else {
		sql := "SELECT c.partition, c.findings FROM c WHERE c.kind = 'head'"
		var params []azcosmos.QueryParameter
		if f.Status != "" {
			sql += " AND ARRAY_CONTAINS(c.statuses, @status)"
			params = append(params, param("@status", string(f.Status)))
		}
		var err error
		if heads, err = s.queryHeads(ctx, sql, params); err != nil {
			return nil, fmt.Errorf("cosmos: list findings: %w", err)
		}
	}
	var out []guard.Finding
	for _, h := range heads {
		for id, raw := range h.Findings {
			fd, err := decodeFinding(raw)
			if err != nil {
				return nil, fmt.Errorf("cosmos: list findings: %s: %w", id, err)
			}
			if f.Status != "" && fd.Status != f.Status || f.Rule != "" && fd.Rule != f.Rule ||
				f.ResourceID != "" && guard.IDKey(fd.ResourceID) != guard.IDKey(f.ResourceID) {
				continue
			}
			out = append(out, *fd)
		}
	}
	slices.SortFunc(out, func(a, b guard.Finding) int {
		return cmp.Or(strings.Compare(guard.IDKey(a.ResourceID), guard.IDKey(b.ResourceID)),
			strings.Compare(a.Rule, b.Rule), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// queryHeads runs a query across partitions that selects heads (or fields of
// them, partition among them). Inside a Batch, the heads of the partitions
// it has read replace what the query returned of them, and stand in the
// result whether the query selected them or not: callers filter again.
func (s *Store) queryHeads(ctx context.Context, sql string, params []azcosmos.QueryParameter) ([]*headDoc, error) {
	docs, err := queryDocs[headDoc](ctx, s.container(cPartitions), crossPartition, sql, params)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []*headDoc
	for a := unitOf(ctx); a != nil; a = a.parent {
		for k, p := range a.parts {
			if !seen[k] {
				seen[k] = true
				out = append(out, p.head)
			}
		}
	}
	for i := range docs {
		if !seen[docs[i].Partition] {
			out = append(out, &docs[i])
		}
	}
	return out, nil
}

// encodeFinding returns the document of f: its times in UTC.
func encodeFinding(f *guard.Finding) (json.RawMessage, error) {
	c := *f
	c.FirstSeen, c.LastSeen = utc(c.FirstSeen), utc(c.LastSeen)
	if c.ResolvedAt != nil {
		t := utc(*c.ResolvedAt)
		c.ResolvedAt = &t
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode finding %s: %w", f.ID, err)
	}
	return b, nil
}

func decodeFinding(raw json.RawMessage) (*guard.Finding, error) {
	var f guard.Finding
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("decode finding: %w", err)
	}
	return &f, nil
}
