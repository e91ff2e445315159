package cosmos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/exportguard/exportguard/pkg/guard"
)

// resourceDoc is a resource's last known state as stored in the resources container.
type resourceDoc struct {
	ID       string         `json:"id"`                // docID of the ID key; also the partition key
	IDKey    string         `json:"idKey"`             // guard.IDKey of the resource ID
	WriteID  string         `json:"writeId,omitempty"` // written by versions that read before they wrote
	Resource guard.Resource `json:"resource"`
}

// GetResource returns the last known state of the resource, whatever the casing
// of id, or an error wrapping guard.ErrNotFound.
func (s *Store) GetResource(ctx context.Context, id string) (*guard.Resource, error) {
	did := docID(guard.IDKey(id))
	doc, _, err := readItem(ctx, s.container(cResources), pkOf(did), did)
	if err != nil {
		return nil, fmt.Errorf("cosmos: get resource %s: %w", id, err)
	}
	if doc == nil {
		return nil, fmt.Errorf("cosmos: get resource %s: %w", id, guard.ErrNotFound)
	}
	r, err := decodeResource(doc)
	if err != nil {
		return nil, fmt.Errorf("cosmos: get resource %s: %w", id, err)
	}
	return r, nil
}

// PutResource stores r under the key of its ID: one upsert, no read (the last
// writer wins, as on the embedded store).
func (s *Store) PutResource(ctx context.Context, r *guard.Resource) error {
	if r == nil {
		return errors.New("cosmos: put resource: nil resource")
	}
	key := guard.IDKey(r.ID)
	if key == "" {
		return errors.New("cosmos: put resource: empty ID")
	}
	c := *r
	c.ObservedAt = utc(c.ObservedAt)
	did := docID(key)
	b, err := json.Marshal(resourceDoc{ID: did, IDKey: key, Resource: c})
	if err != nil {
		return fmt.Errorf("cosmos: put resource %s: encode: %w", r.ID, err)
	}
	if err := upsertItem(ctx, s.container(cResources), pkOf(did), b); err != nil {
		return fmt.Errorf("cosmos: put resource %s: %w", r.ID, err)
	}
	return nil
}

// ListResources returns every resource with a known state, sorted by ID key
// (here: the query spans every partition and only selects).
func (s *Store) ListResources(ctx context.Context) ([]guard.Resource, error) {
	docs, err := queryDocs[resourceDoc](ctx, s.container(cResources), crossPartition, "SELECT * FROM c", nil)
	if err != nil {
		return nil, fmt.Errorf("cosmos: list resources: %w", err)
	}
	slices.SortFunc(docs, func(a, b resourceDoc) int { return strings.Compare(a.IDKey, b.IDKey) })
	var out []guard.Resource
	for _, d := range docs {
		out = append(out, d.Resource)
	}
	return out, nil
}

func decodeResource(doc []byte) (*guard.Resource, error) {
	var d resourceDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("decode resource: %w", err)
	}
	return &d.Resource, nil
}
