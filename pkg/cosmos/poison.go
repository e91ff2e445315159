package cosmos

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// poisonDoc is a poison record as kept in the poison container.
type poisonDoc struct {
	ID     string             `json:"id"`     // docID of the record ID; also the partition key
	AtKey  string             `json:"atKey"`  // timeKey of At
	KeptAt string             `json:"keptAt"` // timeKey of when it was kept: ties in At keep this order
	Poison guard.PoisonRecord `json:"poison"`
}

// PutPoison keeps a record; one with the same ID already there is kept as it is.
func (s *Store) PutPoison(ctx context.Context, p guard.PoisonRecord) error {
	if p.ID == "" {
		return errors.New("cosmos: put poison: empty ID")
	}
	p.At = utc(p.At)
	did := docID(p.ID)
	b, err := json.Marshal(poisonDoc{ID: did, AtKey: timeKey(p.At), KeptAt: timeKey(time.Now()), Poison: p})
	if err != nil {
		return fmt.Errorf("cosmos: put poison %s: %w", p.ID, err)
	}
	if err := createIfAbsent(ctx, s.container(cPoison), pkOf(did), b); err != nil {
		return fmt.Errorf("cosmos: put poison %s: %w", p.ID, err)
	}
	return nil
}

// ListPoison returns every kept record, oldest At first (then in the order they
// were kept).
func (s *Store) ListPoison(ctx context.Context) ([]guard.PoisonRecord, error) {
	docs, err := queryDocs[poisonDoc](ctx, s.container(cPoison), crossPartition, "SELECT * FROM c", nil)
	if err != nil {
		return nil, fmt.Errorf("cosmos: list poison: %w", err)
	}
	slices.SortFunc(docs, func(a, b poisonDoc) int {
		return cmp.Or(strings.Compare(a.AtKey, b.AtKey), strings.Compare(a.KeptAt, b.KeptAt),
			strings.Compare(a.Poison.ID, b.Poison.ID))
	})
	var out []guard.PoisonRecord
	for _, d := range docs {
		out = append(out, d.Poison)
	}
	return out, nil
}
