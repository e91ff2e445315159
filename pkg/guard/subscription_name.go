package guard

import (
	"encoding/json"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// A subscription's display name, for the people who read the report: a GUID
// says nothing to an officer. The scan learns it from the subscription's own
// row in Resource Graph (package resourcegraph) and keeps it as a small state
// of its own, beside the resources' states, so that the report reads it where
// it already reads them (Store.ListResources). It is not kept as the state of
// the subscription's ID: that is when the guard last heard from it (TypeHeard).
// No rule judges it, no event changes it, and ARM is never asked for it: the
// next scan that lists the subscription writes it again. A subscription whose
// name the guard has not seen is shown by its ID: no name is made up.

// TypeSubscriptionName is the Type of the state that keeps a subscription's
// display name (SubscriptionNameID).
const TypeSubscriptionName = "exportguard/subscriptionName"

// maxSubscriptionName bounds a kept name: Azure allows 64 characters; more
// than this is not a name (SubscriptionName drops it).
const maxSubscriptionName = 256

// SubscriptionNameID is the ID the display name of a subscription is kept
// under: not an ARM ID (nothing reads it from ARM), and in a partition of its
// own.
func SubscriptionNameID(subscriptionID string) string {
	return SubscriptionID(subscriptionID) + "/displayName"
}

// subscriptionNameBody is the body of a TypeSubscriptionName state.
type subscriptionNameBody struct {
	SubscriptionID string `json:"subscriptionId"`
	DisplayName    string `json:"displayName"`
}

// NewSubscriptionName is the state that keeps a subscription's display name
// as seen at, or nil when name is no name (SubscriptionName).
func NewSubscriptionName(subscriptionID, name string, at time.Time) *Resource {
	sub := strings.ToLower(strings.TrimSpace(subscriptionID))
	name = SubscriptionName(sub, name)
	if sub == "" || name == "" {
		return nil
	}
	body, _ := json.Marshal(subscriptionNameBody{SubscriptionID: sub, DisplayName: name})
	return &Resource{ID: SubscriptionNameID(sub), Type: TypeSubscriptionName, ObservedAt: at.UTC(), Body: body, FromEvent: true}
}

// SubscriptionNameOf reads a state NewSubscriptionName made: the subscription
// (lower case) and its name; ok is false for any other state, a deleted one,
// or one that holds no name.
func SubscriptionNameOf(r *Resource) (subscriptionID, name string, ok bool) {
	if r == nil || r.Deleted || r.Type != TypeSubscriptionName {
		return "", "", false
	}
	var b subscriptionNameBody
	if json.Unmarshal(r.Body, &b) != nil {
		return "", "", false
	}
	sub := strings.ToLower(strings.TrimSpace(b.SubscriptionID))
	if sub == "" || !SameID(SubscriptionNameID(sub), r.ID) {
		return "", "", false
	}
	name = SubscriptionName(sub, b.DisplayName)
	return sub, name, name != ""
}

// SubscriptionName is name as a subscription's display name, or "" when it is
// none: empty, the subscription's ID itself, longer than any Azure allows, not
// UTF-8, or holding control characters (a name is one line of text).
func SubscriptionName(subscriptionID, name string) string {
	name = strings.TrimSpace(name)
	if name == "" || strings.EqualFold(name, strings.TrimSpace(subscriptionID)) || len(name) > maxSubscriptionName || !utf8.ValidString(name) {
		return ""
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return ""
	}
	return name
}
