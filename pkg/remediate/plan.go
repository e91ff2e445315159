package remediate

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// Kind is the outbox item kind of remediation plans.
const Kind = "remediate"

// Defaults.
const (
	// DefaultApprovalWindow is how long a plan waits for a person before it
	// expires.
	DefaultApprovalWindow = 7 * 24 * time.Hour
	// DefaultApprovalTTL is how long an approval is good for: an approved plan
	// not applied by then is not run any more.
	DefaultApprovalTTL = 24 * time.Hour
	// DefaultMaxAttempts is how many times a plan is tried before it fails; the
	// same as the dispatcher's default, which must not be lower.
	DefaultMaxAttempts = 6
)

// Action types.
const (
	ActionNone                 = "none"
	ActionStorageSKU           = "storage.set-sku"
	ActionStorageCMK           = "storage.restore-cmk"
	ActionStorageTLS           = "storage.set-tls"
	ActionSQLTLS               = "sql.set-tls"
	ActionCosmosTLS            = "cosmos.set-tls"
	ActionCosmosRegions        = "cosmos.remove-regions"
	ActionSQLFailoverGroup     = "sql.delete-failover-group"
	ActionSQLReplicationLink   = "sql.delete-replication-link"
	ActionJITRule              = "network.delete-jit-rule"
	ActionRoleAssignmentDelete = "authorization.delete-role-assignment"
	ActionTag                  = "resource.tag"
)

// Tags a residency.location finding puts on its resource.
const (
	TagViolation = "exportguard-violation"
	TagFinding   = "exportguard-finding"
)

// alwaysApprove lists the actions that wait for a person in auto mode too.
var alwaysApprove = map[string]string{
	ActionSQLFailoverGroup:   "deleting a SQL failover group is destructive: approval always",
	ActionSQLReplicationLink: "deleting a SQL geo-replication link is destructive: approval always",
}

// Writer makes ARM writes. Each call returns when the operation is over (a
// long-running operation polled to its end). Patch and Put return the resource
// as ARM gives it back (nil when it gives nothing); a resource that is not
// there is guard.ErrNotFound. Delete of a resource that is already gone is not
// an error. An error with an HTTPStatus() int method tells the status ARM
// answered; one with RetryAfter() time.Duration the wait it asked for.
type Writer interface {
	Patch(ctx context.Context, id string, body []byte) (*guard.Resource, error)
	Put(ctx context.Context, id string, body []byte) (*guard.Resource, error)
	Delete(ctx context.Context, id string) error
}

// Plan is one remediation of one finding's transition to open: the payload of
// a "remediate" outbox item.
type Plan struct {
	ID             string        `json:"id"` // the item it was planned as: remediate:<finding>:<transition time>
	FindingID      string        `json:"findingId"`
	Rule           string        `json:"rule"`
	ResourceID     string        `json:"resourceId"`
	SubscriptionID string        `json:"subscriptionId"`
	Trigger        guard.Trigger `json:"trigger"` // the transition's trigger: the finding's while it stays in this transition
	PlannedAt      time.Time     `json:"plannedAt"`
	Mode           string        `json:"mode"` // the remediation mode planned under
	Action         Action        `json:"action"`
	InScope        bool          `json:"inScope"` // every ID to be written is in scope.subscriptions
	ScopeReason    string        `json:"scopeReason,omitempty"`
	NeedsApproval  bool          `json:"needsApproval"`
	ApprovalReason string        `json:"approvalReason,omitempty"`
	// ApproveBy is when a plan that needs approval expires unapproved.
	ApproveBy time.Time       `json:"approveBy,omitzero"`
	Before    *guard.Resource `json:"before,omitempty"` // the state judged when the finding opened
	Approval  *Approval       `json:"approval,omitempty"`
}

// partition is the store partition of the plan's finding, where its item,
// its audit records and the finding are kept (guard.PartitionOf).
func (p *Plan) partition() string { return guard.PartitionOf(p.ResourceID) }

// Approval is a person's approval of a plan.
type Approval struct {
	Approver
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Approver is who approves or denies: an Entra ID principal that App Service
// authentication vouched for, or the OS user at a terminal.
type Approver struct {
	ObjectID string `json:"objectId,omitempty"` // Entra ID object ID
	Name     string `json:"name"`               // UPN or display name; the OS user name at a terminal
	Via      string `json:"via"`                // how the approver was identified
}

func (a Approver) String() string {
	switch {
	case a.ObjectID != "" && a.Name != "":
		return a.Name + " (" + a.ObjectID + ")"
	case a.ObjectID != "":
		return a.ObjectID
	}
	return a.Name
}

// Action is what a plan does.
type Action struct {
	Type        string `json:"type"`
	Description string `json:"description"`
	Reason      string `json:"reason,omitempty"` // for none: why nothing is done automatically
	Steps       []Step `json:"steps,omitempty"`

	// Parameters the executor checks the live state against.
	FromSKU       string            `json:"fromSku,omitempty"`
	ToSKU         string            `json:"toSku,omitempty"`
	RemoveRegions []string          `json:"removeRegions,omitempty"`
	PrincipalID   string            `json:"principalId,omitempty"`
	Tags          map[string]string `json:"tags,omitempty"`
}

// Step is one ARM write of an action.
type Step struct {
	Method string          `json:"method"`         // PATCH, PUT or DELETE
	Target string          `json:"target"`         // the ARM ID written
	Read   string          `json:"read"`           // the ARM ID read before (is the step still needed?) and after
	Body   json.RawMessage `json:"body,omitempty"` // as planned; the executor may narrow it to what the live state still needs
	Name   string          `json:"name,omitempty"` // network.delete-jit-rule: the security rule's name
}

// maxBeforeBytes bounds the before state a plan carries; a bigger body is left out.
const maxBeforeBytes = 64 << 10

// planID is the deterministic outbox ID of a finding's transition.
func planID(findingID string, at time.Time) string {
	return Kind + ":" + findingID + ":" + at.UTC().Format(time.RFC3339Nano)
}

// approvedID is the ID of the item an approval enqueues.
func approvedID(id string) string { return id + ":approved" }

// writeScope reports whether every ID may be read and written under the
// policy. The subscription is taken from the segments of an ID that
// guard.CheckResourceID accepts: "/subscriptions/ALLOWED/resourceGroups/rg/../../../subscriptions/OTHER/…"
// starts with an allowed subscription as text and names another (DESIGN 3.6).
func writeScope(pol *guard.Policy, ids ...string) (bool, string) {
	if pol == nil || len(pol.Scope.Subscriptions) == 0 {
		return false, "scope.subscriptions is empty: exportguard writes to no subscription until the policy lists those it may change"
	}
	for _, id := range ids {
		if err := guard.CheckResourceID(id); err != nil {
			return false, "an ID the plan reads or writes is not usable: " + err.Error()
		}
		sub := guard.SubscriptionOf(id)
		if sub == "" {
			return false, id + " is not under a subscription"
		}
		if !pol.InScope(sub) {
			return false, "subscription " + sub + " is not in scope.subscriptions"
		}
	}
	return true, ""
}

// targets are the IDs a plan reads and writes, and the finding's resource.
func (p *Plan) targets() []string {
	ids := []string{p.ResourceID}
	for _, s := range p.Action.Steps {
		ids = append(ids, s.Target, s.Read)
	}
	return ids
}

// awaiting reports whether the plan waits for a person.
func (p *Plan) awaiting() bool { return p.NeedsApproval && p.Approval == nil }

func decodePlan(raw []byte) (*Plan, error) {
	var p Plan
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

func encodePlan(p *Plan) ([]byte, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("remediate: encode plan %s: %w", p.ID, err)
	}
	return raw, nil
}

func sameTrigger(a, b guard.Trigger) bool {
	return a.Source == b.Source && a.EventID == b.EventID && strings.EqualFold(a.CorrelationID, b.CorrelationID)
}
