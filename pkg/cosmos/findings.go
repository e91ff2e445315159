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

// findingDoc is a finding as stored in the findings container.
type findingDoc struct {
	ID      string              `json:"id"`    // docID of the finding ID; also the partition key
	IDKey   string              `json:"idKey"` // guard.IDKey of the resource ID, for filters and order
	WriteID string              `json:"writeId"`
	Finding guard.StoredFinding `json:"finding"`
}

// GetFinding returns the finding with this ID, or an error wrapping guard.ErrNotFound.
func (s *Store) GetFinding(ctx context.Context, id string) (*guard.Finding, error) {
	did := docID(id)
	doc, _, err := readItem(ctx, s.container(cFindings), pkOf(did), did)
	if err != nil {
		return nil, fmt.Errorf("cosmos: get finding %s: %w", id, err)
	}
	if doc == nil {
		return nil, fmt.Errorf("cosmos: get finding %s: %w", id, guard.ErrNotFound)
	}
	f, err := decodeFinding(doc)
	if err != nil {
		return nil, fmt.Errorf("cosmos: get finding %s: %w", id, err)
	}
	return f, nil
}

// UpdateFinding reads the finding with this ID, calls fn and stores what fn
// returns, replacing the finding only if it is still the one read (its ETag) or
// creating it only if there still is none. When another writer changed it in
// between, it reads again and calls fn again (see Options.UpdateAttempts). fn
// gets a copy of its own. The finding fn returns is stored under id; an empty
// ID is set to id, another ID is an error.
func (s *Store) UpdateFinding(ctx context.Context, id string, fn func(cur *guard.Finding) (*guard.Finding, error)) (*guard.Finding, error) {
	if id == "" {
		return nil, errors.New("cosmos: update finding: empty ID")
	}
	did := docID(id)
	var out *guard.Finding
	err := s.change(ctx, s.container(cFindings), pkOf(did), did, func(cur []byte, writeID string) ([]byte, error) {
		out = nil
		var curF *guard.Finding
		if cur != nil {
			f, err := decodeFinding(cur)
			if err != nil {
				return nil, err
			}
			curF = f
		}
		next, err := fn(curF)
		if err != nil {
			return nil, err
		}
		if next == nil {
			if cur != nil {
				out, err = decodeFinding(cur) // not curF: fn may have changed it
			}
			return nil, err
		}
		if next.ID == "" {
			n := *next
			n.ID = id
			next = &n
		} else if next.ID != id {
			return nil, fmt.Errorf("fn returned finding %s", next.ID)
		}
		doc, err := encodeFinding(did, writeID, next)
		if err != nil {
			return nil, err
		}
		out, err = decodeFinding(doc)
		return doc, err
	})
	if err != nil {
		return nil, fmt.Errorf("cosmos: update finding %s: %w", id, err)
	}
	return out, nil
}

// ListFindings returns the findings matching f, sorted by resource ID key, rule
// and finding ID. The query spans every partition and only filters; the sorting
// is done here.
func (s *Store) ListFindings(ctx context.Context, f guard.FindingFilter) ([]guard.Finding, error) {
	var where []string
	var params []azcosmos.QueryParameter
	if f.Status != "" {
		where, params = append(where, "c.finding.status = @status"), append(params, param("@status", string(f.Status)))
	}
	if f.Rule != "" {
		where, params = append(where, "c.finding.rule = @rule"), append(params, param("@rule", f.Rule))
	}
	if f.ResourceID != "" {
		where, params = append(where, "c.idKey = @idKey"), append(params, param("@idKey", guard.IDKey(f.ResourceID)))
	}
	if f.Pending {
		where = append(where, "IS_DEFINED(c.finding.pending)")
	}
	sql := "SELECT * FROM c"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	docs, err := queryDocs[findingDoc](ctx, s.container(cFindings), crossPartition, sql, params)
	if err != nil {
		return nil, fmt.Errorf("cosmos: list findings: %w", err)
	}
	slices.SortFunc(docs, func(a, b findingDoc) int {
		return cmp.Or(strings.Compare(a.IDKey, b.IDKey), strings.Compare(a.Finding.Rule, b.Finding.Rule),
			strings.Compare(a.Finding.ID, b.Finding.ID))
	})
	var out []guard.Finding
	for _, d := range docs {
		out = append(out, d.Finding.Unstored())
	}
	return out, nil
}

// encodeFinding returns the document of f: its times in UTC.
func encodeFinding(did, writeID string, f *guard.Finding) ([]byte, error) {
	c := *f
	c.FirstSeen, c.LastSeen = utc(c.FirstSeen), utc(c.LastSeen)
	if c.ResolvedAt != nil {
		t := utc(*c.ResolvedAt)
		c.ResolvedAt = &t
	}
	b, err := json.Marshal(findingDoc{ID: did, IDKey: guard.IDKey(c.ResourceID), WriteID: writeID, Finding: guard.Stored(c)})
	if err != nil {
		return nil, fmt.Errorf("encode finding: %w", err)
	}
	return b, nil
}

func decodeFinding(doc []byte) (*guard.Finding, error) {
	var d findingDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("decode finding: %w", err)
	}
	f := d.Finding.Unstored()
	return &f, nil
}
