package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// List implements guard.Lister from the session's arm lines, as ARM would
// answer at the replay clock: the resources of the query's type in the
// scope's subscription whose latest line at or before the clock is not a
// deletion and whose properties.{Property} matches. A session with no line of
// that type in that subscription never listed it: that is guard.ErrUnknown,
// not an empty list (DESIGN 3.2), and the rule judges without the list, as a
// Reader that cannot list leaves it. record writes the resources it listed as
// arm lines, so a recording lists the same here.
func (a *ARM) List(_ context.Context, q guard.ListQuery) ([]*guard.Resource, error) {
	if err := checkID(http.MethodGet, q.Scope); err != nil {
		return nil, err
	}
	sub := guard.SubscriptionOf(q.Scope)
	now := a.clock()
	a.mu.Lock()
	var seen bool
	var ids []string
	for key, obs := range a.byID {
		if len(obs) == 0 || !strings.EqualFold(guard.TypeOf(key), q.Type) || !strings.EqualFold(guard.SubscriptionOf(key), sub) ||
			obs[0].at.After(now) {
			continue
		}
		seen = true
		if o := a.latest(key, now); o != nil && listMatches(q, o.body) {
			ids = append(ids, key)
		}
	}
	bodies := make([]observation, len(ids))
	sort.Strings(ids)
	for i, id := range ids {
		bodies[i] = *a.latest(id, now)
	}
	a.mu.Unlock()
	if !seen {
		return nil, fmt.Errorf("list %s at %s: no arm line of that type: %w", q, now.Format(time.RFC3339), guard.ErrUnknown)
	}
	out := make([]*guard.Resource, 0, len(bodies))
	for i, o := range bodies {
		res, err := guard.NewResource(o.body, o.at)
		if err != nil {
			return nil, fmt.Errorf("list %s: recorded body of %s: %w", q, ids[i], err)
		}
		out = append(out, res)
	}
	return out, nil
}

// listMatches applies the query's filter to a recorded body.
func listMatches(q guard.ListQuery, body []byte) bool {
	var b struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if json.Unmarshal(body, &b) != nil {
		return false
	}
	var v string
	for k, raw := range b.Properties {
		if strings.EqualFold(k, q.Property) {
			if json.Unmarshal(raw, &v) != nil {
				return false
			}
			break
		}
	}
	return v != "" && q.Matches(v)
}
