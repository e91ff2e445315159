package guard

import (
	"strings"
	"time"
)

// Source names where a change came from, as the finding's trigger reports it.
type Source string

const (
	SourceEventHub  Source = "eventhub"  // Activity Log records streamed to Event Hubs
	SourceEventGrid Source = "eventgrid" // Event Grid resource events (either schema)
	SourceTimer     Source = "timer"     // the sweep
)

// Outcome is how the control-plane operation behind a change ended.
type Outcome string

const (
	OutcomeSucceeded Outcome = "Succeeded"
	OutcomeStarted   Outcome = "Started" // Activity Log Start / Accept stages
	OutcomeFailed    Outcome = "Failed"  // failure or cancellation
	OutcomeUnknown   Outcome = "Unknown" // a status no source documents
)

// Action is the kind of ARM request that changed the resource.
type Action string

const (
	ActionWrite  Action = "write"
	ActionDelete Action = "delete"
	ActionAction Action = "action" // POST .../action
)

// Change is one control-plane operation on one resource, normalised from whichever
// event reported it. Events are triggers, not truth: the pipeline re-reads the
// resource unless the event itself carries it (Resource).
type Change struct {
	ResourceID     string    // as the event spells it
	SubscriptionID string    // from the resource ID
	ResourceType   string    // e.g. Microsoft.Storage/storageAccounts
	Operation      string    // e.g. Microsoft.Storage/storageAccounts/write
	Action         Action    // write, delete or action
	Outcome        Outcome   // only OutcomeSucceeded gives a verdict
	Caller         string    // UPN, or app/object ID for service principals
	CorrelationID  string    // ARM correlation ID, shared by every record of one operation
	EventTime      time.Time // when the operation happened, per the event
	Source         Source
	EventID        string    // the source's ID for the event (derived where it has none)
	Resource       *Resource // the resource as the event carried it, when it did
}

// OperationKey identifies the operation on one resource independently of how it
// was reported, so that one operation seen by the Activity Log and by Event Grid
// is handled once. It always names the resource: two resources in one delivery
// that share an event ID are two changes (DESIGN 3.6).
func (c Change) OperationKey() string {
	if c.CorrelationID == "" {
		return c.legacyKey() + "|" + IDKey(c.ResourceID)
	}
	return "op:" + strings.ToLower(strings.TrimSpace(c.CorrelationID)) + "|" + IDKey(c.ResourceID) + "|" + strings.ToLower(strings.TrimSpace(c.Operation))
}

// legacyKey is the key versions before issue 14 marked a change without a
// correlation ID by: the event alone. It is only ever read, so that an event
// such a version processed is still a duplicate when it is delivered again; it
// is "" for a change whose key never changed.
func (c Change) legacyKey() string {
	if c.CorrelationID != "" {
		return ""
	}
	return "event:" + string(c.Source) + ":" + c.EventID
}

// ActionOf derives the action from an ARM operation name
// ("…/write", "…/delete", anything else ending in "/action").
func ActionOf(operation string) Action {
	op := strings.ToLower(operation)
	switch {
	case strings.HasSuffix(op, "/write"):
		return ActionWrite
	case strings.HasSuffix(op, "/delete"):
		return ActionDelete
	default:
		return ActionAction
	}
}

// Claim keys, as Azure puts them in JWT claims (Activity Log identity.claims and
// Event Grid data.claims).
const (
	claimUPN      = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
	claimName     = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	claimObjectID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
)

// CallerFromClaims derives who made a call: the UPN (or name claim) for people, the
// application ID and object ID for service principals and managed identities. The
// diagnostic-settings schema has no top-level caller (research note §1.3).
func CallerFromClaims(claims map[string]string) string {
	for _, k := range []string{claimUPN, claimName} {
		if v := strings.TrimSpace(claims[k]); v != "" {
			return v
		}
	}
	oid := strings.TrimSpace(claims[claimObjectID])
	if app := strings.TrimSpace(claims["appid"]); app != "" {
		if oid != "" {
			return "app:" + app + " (object " + oid + ")"
		}
		return "app:" + app
	}
	return oid
}
