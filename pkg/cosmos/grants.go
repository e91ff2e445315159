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

	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"

	"github.com/exportguard/exportguard/pkg/guard"
)

// grantDoc is a grant as stored in the grants container.
type grantDoc struct {
	ID    string      `json:"id"`    // docID of the grant ID; also the partition key
	EndAt string      `json:"endAt"` // timeKey of End, for the due query
	Grant guard.Grant `json:"grant"`
}

// PutGrant stores or replaces a grant (by ID).
func (s *Store) PutGrant(ctx context.Context, g guard.Grant) error {
	if g.ID == "" {
		return errors.New("cosmos: put grant: empty ID")
	}
	g.Start, g.End = utc(g.Start), utc(g.End)
	did := docID(g.ID)
	b, err := json.Marshal(grantDoc{ID: did, EndAt: timeKey(g.End), Grant: g})
	if err != nil {
		return fmt.Errorf("cosmos: put grant %s: %w", g.ID, err)
	}
	if err := upsertItem(ctx, s.container(cGrants), pkOf(did), b); err != nil {
		return fmt.Errorf("cosmos: put grant %s: %w", g.ID, err)
	}
	return nil
}

// DueGrants returns the grants whose End is at or before the given time, sorted
// by End then ID (here: the query spans every partition and only filters).
func (s *Store) DueGrants(ctx context.Context, before time.Time) ([]guard.Grant, error) {
	docs, err := queryDocs[grantDoc](ctx, s.container(cGrants), crossPartition, "SELECT * FROM c WHERE c.endAt <= @before",
		[]azcosmos.QueryParameter{param("@before", timeKey(before))})
	if err != nil {
		return nil, fmt.Errorf("cosmos: list due grants: %w", err)
	}
	slices.SortFunc(docs, func(a, b grantDoc) int {
		return cmp.Or(strings.Compare(a.EndAt, b.EndAt), strings.Compare(a.Grant.ID, b.Grant.ID))
	})
	var out []guard.Grant
	for _, d := range docs {
		out = append(out, d.Grant)
	}
	return out, nil
}

// DeleteGrant removes a grant; removing one that is absent is not an error.
func (s *Store) DeleteGrant(ctx context.Context, id string) error {
	did := docID(id)
	if err := deleteIfPresent(ctx, s.container(cGrants), pkOf(did), did); err != nil {
		return fmt.Errorf("cosmos: delete grant %s: %w", id, err)
	}
	return nil
}
