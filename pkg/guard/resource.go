package guard

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/exportguard/exportguard/internal/fastjson"
)

// Resource is a resource as ARM returned it (or as an event or a recorded session
// carried it): a few fields every rule needs, and the whole body for the rest.
type Resource struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Location   string          `json:"location,omitempty"`
	Deleted    bool            `json:"deleted,omitempty"` // known to be gone
	ObservedAt time.Time       `json:"observedAt"`
	Body       json.RawMessage `json:"body,omitempty"` // the GET body (the same JSON; a store may re-serialise it)
	// FromEvent says the state is what an event carried (a Resource
	// Notifications payload, a Key Vault key event) or a Resource Graph row
	// (a cache that lags ARM), not what ARM or a recorded arm line answered.
	// Such a state may open a finding but never resolves one, never blocks a
	// newer state, and is never the ground of a remediation (DESIGN 3.6). The
	// pipeline and package resourcegraph set it; false (and absent in a stored
	// document, as states were kept before it existed) is a state read from ARM.
	FromEvent bool `json:"fromEvent,omitempty"`
}

// NewResource reads the fields of an ARM GET body.
func NewResource(body []byte, observedAt time.Time) (*Resource, error) {
	var head struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Location string `json:"location"`
	}
	if err := fastjson.Unmarshal(body, &head); err != nil { // encoding/json's answer, faster (issue 8)
		return nil, err
	}
	typ := head.Type
	if typ == "" {
		typ = TypeOf(head.ID)
	}
	return &Resource{ID: strings.TrimSpace(head.ID), Type: typ, Location: head.Location,
		ObservedAt: observedAt.UTC(), Body: append(json.RawMessage(nil), body...)}, nil
}

// IDKey is the form of a resource ID used for comparison and storage keys: ARM IDs
// are case-insensitive, and casing varies between sources (research note §1.3).
func IDKey(id string) string { return strings.ToLower(strings.TrimRight(strings.TrimSpace(id), "/")) }

// SameID reports whether two resource IDs name the same resource.
func SameID(a, b string) bool { return IDKey(a) == IDKey(b) }

// SubscriptionOf returns the subscription ID in a resource ID, or "".
func SubscriptionOf(id string) string {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	if len(parts) >= 2 && strings.EqualFold(parts[0], "subscriptions") {
		return parts[1]
	}
	return ""
}

// TypeOf returns the resource type named by a resource ID
// ("…/providers/Microsoft.Storage/storageAccounts/x/blobServices/default" gives
// "Microsoft.Storage/storageAccounts/blobServices"), or "" when the ID names no
// provider resource.
func TypeOf(id string) string {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	last := -1
	for i, p := range parts {
		if strings.EqualFold(p, "providers") {
			last = i
		}
	}
	if last < 0 || last+1 >= len(parts) {
		return ""
	}
	rest := parts[last+1:]
	typ := []string{rest[0]}
	for i := 1; i < len(rest); i += 2 {
		typ = append(typ, rest[i])
	}
	return strings.Join(typ, "/")
}

// WithinScope reports whether id is scope or lies below it on whole path segments
// ("…/rg-a" covers "…/rg-a/providers/…" but not "…/rg-ab"), case-insensitively.
// Both must be usable IDs (CheckResourceID, trailing slashes aside): an ID with a
// ".." segment lies below nothing, whatever its text starts with.
func WithinScope(id, scope string) bool {
	i, s := strings.TrimRight(strings.TrimSpace(id), "/"), strings.TrimRight(strings.TrimSpace(scope), "/")
	if CheckResourceID(i) != nil || CheckResourceID(s) != nil {
		return false
	}
	is, ss := strings.Split(i[1:], "/"), strings.Split(s[1:], "/")
	if len(ss) > len(is) {
		return false
	}
	for k := range ss {
		if !strings.EqualFold(is[k], ss[k]) {
			return false
		}
	}
	return true
}

// ParentOf returns the ID of the resource a child resource belongs to
// ("…/servers/s/failoverGroups/f" gives "…/servers/s"), or "" for a top-level
// resource.
func ParentOf(id string) string {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	last := -1
	for i, p := range parts {
		if strings.EqualFold(p, "providers") {
			last = i
		}
	}
	// providers/<namespace>/<type>/<name> is top level; each further pair is a child.
	if last < 0 || len(parts)-last-1 < 5 {
		return ""
	}
	return "/" + strings.Join(parts[:len(parts)-2], "/")
}
