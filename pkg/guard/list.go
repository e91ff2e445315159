package guard

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Some links in ARM run one way only. A PIM schedule instance names the
// schedule it belongs to and the role assignment it created, but neither the
// schedule nor the request that made it names the instance, whose own name is
// a hash no one else can compute. Following such a link backwards means
// listing a type at a scope, filtered on the property that holds the link:
// ARM's list operations with an OData $filter. A rule that needs one is a
// ListGatherer; the pipeline's Reader answers it when it is also a Lister, and
// a rule given no list (a Reader that cannot list, a session that never listed
// that type) judges as it would without the link.

// ListQuery is one filtered list read: the resources of Type at Scope whose
// properties.{Property} equals Equals.
type ListQuery struct {
	Scope    string // where the list is read: "/subscriptions/{id}", a resource group, a resource
	Type     string // the listed type, "Microsoft.Authorization/roleAssignmentScheduleInstances"
	Property string // the property filtered on, "roleAssignmentScheduleId"
	Equals   string // the value it must hold
}

// Filter is the query's OData $filter: {Property} eq '{Equals}', a quote in
// the value doubled as OData writes it.
func (q ListQuery) Filter() string {
	return q.Property + " eq '" + strings.ReplaceAll(q.Equals, "'", "''") + "'"
}

func (q ListQuery) String() string {
	return strings.TrimRight(q.Scope, "/") + "/providers/" + q.Type + "?$filter=" + q.Filter()
}

// Matches reports whether a property value satisfies the query. Values that
// are resource IDs compare as IDs do (case aside), and PIM's spelling of a
// subscription scope, /providers/Microsoft.Subscription/subscriptions/{id},
// is the same as /subscriptions/{id}.
func (q ListQuery) Matches(value string) bool {
	return listValueKey(value) == listValueKey(q.Equals)
}

func listValueKey(v string) string {
	k := IDKey(v)
	if strings.HasPrefix(k, "/providers/microsoft.subscription/subscriptions/") {
		k = k[len("/providers/microsoft.subscription"):]
	}
	return k
}

// Lister is a ResourceReader that can also list. List returns every resource
// the query selects (an empty list when there is none); a wrapped ErrUnknown
// when it has no answer (a recorded session that never listed the type);
// ErrUnsupported when the list cannot be read at all (ARM refused the filter).
type Lister interface {
	List(ctx context.Context, q ListQuery) ([]*Resource, error)
}

// ListGatherer is a rule that needs lists besides the resource it judges.
// Lists returns the queries for the judged resource; the pipeline reads them,
// at most MaxGatherLists and never outside the policy's scope, and passes what
// it listed in Input.Listed.
type ListGatherer interface {
	Lists(res *Resource) []ListQuery
}

// MaxGatherLists bounds the lists read for one judgement.
const MaxGatherLists = 4

// ListedFor returns what was listed for a query, and whether it was listed at all
// (false: no Lister, out of scope, or no answer).
func (in Input) ListedFor(q ListQuery) ([]*Resource, bool) {
	rs, ok := in.Listed[q]
	return rs, ok
}

// gatherLists reads the lists a ListGatherer asks for, through the delivery's
// cache. A query the Reader cannot answer is left out; a failure to list is
// the unit's failure, retried as a failed read is.
func (p *Pipeline) gatherLists(ctx context.Context, g ListGatherer, res *Resource) (map[ListQuery][]*Resource, error) {
	l, ok := p.Reader.(Lister)
	if !ok {
		return nil, nil
	}
	var out map[ListQuery][]*Resource
	for i, q := range g.Lists(res) {
		if i == MaxGatherLists {
			p.log().Warn("gather: list limit reached", "resourceId", res.ID, "limit", MaxGatherLists)
			break
		}
		if !p.Policy.InScope(SubscriptionOf(q.Scope)) {
			continue
		}
		rs, err := p.list(ctx, l, q)
		switch {
		case errors.Is(err, ErrUnknown), errors.Is(err, ErrUnsupported):
			p.log().Info("gather: no list", "resourceId", res.ID, "list", q.String(), "error", err.Error())
			continue
		case err != nil:
			return nil, fmt.Errorf("gather list %s for %s: %w", q, res.ID, err)
		}
		if out == nil {
			out = map[ListQuery][]*Resource{}
		}
		if rs == nil {
			rs = []*Resource{}
		}
		out[q] = rs
	}
	return out, nil
}

// list reads through the delivery's cache: two rules judging one resource
// list once. Only answers are cached, never failures; a 404 (the scope is
// gone, and what was in it) is the answer that nothing is listed.
func (p *Pipeline) list(ctx context.Context, l Lister, q ListQuery) ([]*Resource, error) {
	c, _ := ctx.Value(readCacheKey{}).(*readCache)
	key := IDKey(q.String())
	if c != nil {
		c.mu.Lock()
		r, ok := c.lists[key]
		c.mu.Unlock()
		if ok {
			return r, nil
		}
	}
	rs, err := l.List(ctx, q)
	if isNotFound(err) {
		rs, err = []*Resource{}, nil
	}
	if c != nil && err == nil {
		c.mu.Lock()
		if c.lists == nil {
			c.lists = map[string][]*Resource{}
		}
		c.lists[key] = rs
		c.mu.Unlock()
	}
	return rs, err
}
