package resourcegraph

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// MaxRowBytes bounds the body one row becomes, as arm.MaxBodyBytes bounds an ARM GET.
const MaxRowBytes = 4 << 20

// bodyMembers are the columns that become members of the ARM-shaped body; the
// others the query projects (subscriptionId) are Resource Graph's own.
var bodyMembers = []string{"id", "name", "type", "location", "kind", "sku", "identity", "tags", "properties", "managedBy", "plan", "zones", "extendedLocation"}

// row is one object of a page's data, as decoded.
type row map[string]any

// str is the row's string column, or "" when it is absent, null or no string.
func (r row) str(col string) string {
	s, _ := r[col].(string)
	return s
}

// subscription is the subscription the row belongs to: the one its ID names,
// else its subscriptionId column, lower case.
func (r row) subscription() string {
	if s := guard.SubscriptionOf(r.str("id")); s != "" {
		return strings.ToLower(s)
	}
	return strings.ToLower(r.str("subscriptionId"))
}

// isSubscription reports whether the row is a subscription's own row. Its
// name column is the subscription's display name, not its ID: Learn's "Key
// vault with subscription name" sample joins ResourceContainers' subscription
// rows projected as SubName=name to show "the name of the subscription it's
// in" (https://learn.microsoft.com/azure/governance/resource-graph/concepts/query-language#resource-graph-tables,
// the join example), as ARM's GET /subscriptions/{id} calls it displayName.
func (r row) isSubscription() bool { return strings.EqualFold(r.str("type"), subscriptionType) }

// resource turns a resource's row into the state the pipeline judges: the body
// an ARM GET would have given, as far as Resource Graph holds it, observed at
// now and marked as not read from ARM (FromEvent).
func (r row) resource(now time.Time) (*guard.Resource, error) {
	id := strings.TrimSpace(r.str("id"))
	if err := guard.CheckResourceID(id); err != nil {
		return nil, fmt.Errorf("row with id %q: %w", r.str("id"), err)
	}
	typ := r.str("type")
	if typ == "" {
		return nil, fmt.Errorf("row %s: no type", id)
	}
	// Resource Graph writes types in lower case; ARM and the ID keep the
	// provider's casing, which is what a reader of the body expects.
	if t := guard.TypeOf(id); strings.EqualFold(t, typ) {
		typ = t
	}
	body := make(map[string]any, len(bodyMembers))
	for _, k := range bodyMembers {
		if v, ok := r[k]; ok && !empty(v) {
			body[k] = v
		}
	}
	body["id"], body["type"] = id, typ
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("row %s: %w", id, err)
	}
	if len(b) > MaxRowBytes {
		return nil, fmt.Errorf("row %s: body of %d bytes, more than %d", id, len(b), MaxRowBytes)
	}
	return &guard.Resource{ID: id, Type: typ, Location: r.str("location"), ObservedAt: now.UTC(), Body: b, FromEvent: true}, nil
}

// empty reports whether a column holds nothing: Resource Graph answers null,
// "" or {} for what an ARM body leaves out (no kind, no sku, no tags).
func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}
