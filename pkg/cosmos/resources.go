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

// GetResource returns the last known state of the resource, whatever the casing
// of id, or an error wrapping guard.ErrNotFound: from its partition's head.
func (s *Store) GetResource(ctx context.Context, id string) (*guard.Resource, error) {
	key := guard.IDKey(id)
	h, err := s.peek(ctx, guard.PartitionOf(id))
	if err != nil {
		return nil, fmt.Errorf("cosmos: get resource %s: %w", id, err)
	}
	raw, ok := h.Resources[key]
	if !ok {
		return nil, fmt.Errorf("cosmos: get resource %s: %w", id, guard.ErrNotFound)
	}
	r, err := decodeResource(raw)
	if err != nil {
		return nil, fmt.Errorf("cosmos: get resource %s: %w", id, err)
	}
	return r, nil
}

// PutResource keeps r in its partition's head, under the key of its ID,
// committed with the rest of the Batch of ctx (or at once, outside one).
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
	raw, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("cosmos: put resource %s: encode: %w", r.ID, err)
	}
	err = s.inUnit(ctx, func(ctx context.Context, u *unit) error {
		p, err := s.loadForWrite(ctx, u, guard.PartitionOf(r.ID))
		if err != nil {
			return err
		}
		p.head.Resources[key] = raw
		u.wrote(p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cosmos: put resource %s: %w", r.ID, err)
	}
	return nil
}

// ListResources returns every resource with a known state, sorted by ID key:
// a query across partitions for the heads' resources.
func (s *Store) ListResources(ctx context.Context) ([]guard.Resource, error) {
	heads, err := s.queryHeads(ctx, "SELECT c.partition, c.resources FROM c WHERE c.kind = 'head'", nil)
	if err != nil {
		return nil, fmt.Errorf("cosmos: list resources: %w", err)
	}
	type keyed struct {
		key string
		r   *guard.Resource
	}
	var all []keyed
	for _, h := range heads {
		for key, raw := range h.Resources {
			r, err := decodeResource(raw)
			if err != nil {
				return nil, fmt.Errorf("cosmos: list resources: %s: %w", key, err)
			}
			all = append(all, keyed{key, r})
		}
	}
	slices.SortFunc(all, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	out := make([]guard.Resource, 0, len(all))
	for _, k := range all {
		out = append(out, *k.r)
	}
	return out, nil
}

func decodeResource(raw json.RawMessage) (*guard.Resource, error) {
	var r guard.Resource
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("decode resource: %w", err)
	}
	return &r, nil
}
