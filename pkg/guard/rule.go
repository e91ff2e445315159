package guard

import "time"

// Rule IDs (DESIGN 3.3). They are contracts: findings, policy files and other
// systems name rules by them.
const (
	RuleResidencyLocation    = "residency.location"
	RuleResidencyReplication = "residency.replication"
	RuleEncryptionCMK        = "encryption.cmk"
	RuleTransitTLS           = "transit.tls"
	RuleJITOverstay          = "access.jit-overstay"
	RuleJITWindow            = "access.jit-window"
	RuleUnscreenedPrincipal  = "access.unscreened-principal"
)

// RuleMonitoringActivityLog is the rule about the guard itself going blind: a
// subscription in scope whose Activity Log no longer reaches the app's hub.
const RuleMonitoringActivityLog = "monitoring.activity-log"

// RuleIDs lists every rule ID, in the order DESIGN 3.3 gives them.
var RuleIDs = []string{RuleResidencyLocation, RuleResidencyReplication, RuleEncryptionCMK,
	RuleTransitTLS, RuleJITOverstay, RuleJITWindow, RuleUnscreenedPrincipal, RuleMonitoringActivityLog}

// Input is everything a rule may look at. Rules are pure: they read no clock and
// no network, only this.
type Input struct {
	Policy     *Policy
	Resource   *Resource                 // current state; Deleted when the resource is gone
	Previous   *Resource                 // last known state before this one, or nil
	Related    map[string]*Resource      // what a Gatherer asked for, by IDKey (Deleted when ARM answered 404)
	Dependents []*Resource               // for a DependentRule: known resources that reference this one; for a Referrer, those it refers to
	Listed     map[ListQuery][]*Resource // what a ListGatherer asked for and was listed (list.go)
	Now        time.Time
}

// RelatedResource returns a resource the pipeline gathered, or nil.
func (in Input) RelatedResource(id string) *Resource { return in.Related[IDKey(id)] }

// Verdict is a rule's answer about one resource (or grant).
type Verdict struct {
	Rule       string
	ResourceID string // the resource a person would fix (DESIGN 3.3)
	GrantID    string // set for verdicts about one grant
	Violation  bool   // false: compliant, which resolves an open finding
	Message    string
	Evidence   map[string]any
	Action     string // the remediation that would fix it
}

// Rule is one export-control check.
type Rule interface {
	// ID is the rule ID (DESIGN 3.3).
	ID() string
	// Applies reports whether the rule judges resources of this type.
	Applies(resourceType string) bool
	// Evaluate judges the resource. It returns no verdict when it has nothing to
	// say (a resource it cannot judge), and a compliant verdict when the resource
	// is fine, so that an open finding resolves.
	Evaluate(in Input) []Verdict
}

// Gatherer is a rule that needs other resources besides the one it judges (a
// VM's network interfaces, their subnets and security groups). Related returns
// the IDs to read, given the judged resource and what has been read so far (by
// IDKey, the judged resource included); the pipeline reads them and asks again,
// for at most MaxGatherRounds rounds and MaxGatherReads reads, and never outside
// the policy's scope.
type Gatherer interface {
	Related(res *Resource, have map[string]*Resource) []string
}

// Bounds on gathering.
const (
	MaxGatherRounds = 4
	MaxGatherReads  = 64
)

// GrantRule is a rule about time-bound grants (JIT requests, PIM schedules).
// Nothing happens at a grant's end that an event would report, so the pipeline
// stores the grants a resource holds and the sweep checks each when it is due.
type GrantRule interface {
	Rule
	// GrantKind is the Kind of the grants this rule lists and checks (jit, pim).
	GrantKind() string
	// Grants lists the grants the judged resource holds. Grant.End is when the
	// grant must be gone (its window's end plus the policy's grace).
	Grants(in Input) []Grant
	// CheckGrant judges a due grant. in.Resource is the grant's resource
	// (Grant.ResourceID) as read now, Deleted when it is gone; in.Related holds
	// what the rule gathers, when it is a Gatherer. A grant whose verdicts are
	// all compliant is forgotten; one still violating is checked again next sweep.
	CheckGrant(g Grant, in Input) []Verdict
}

// DependentRule judges other resources through the one it is given: a Key Vault
// key judges the resources that use it as their customer-managed key. The
// pipeline passes, in Input.Dependents, the known resources whose bodies contain
// (case-insensitively) one of the strings References returns.
type DependentRule interface {
	Rule
	References(res *Resource) []string
}

// DeletionRule is a rule whose verdicts are about other resources than the
// one it judges (a JIT policy's are about VMs), so that deleting the judged
// resource does not close them, as it closes the resource's own findings.
// Deleted says what the deletion settles: in.Resource is the deleted state,
// in.Previous the last known one (nil when it was never seen).
type DeletionRule interface {
	Rule
	Deleted(in Input) []Verdict
}

// Referrer is a rule that judges a resource through other known resources it
// refers to (a storage account through the Key Vault key it has just been
// pointed at, whose state only the key's own events bring). The pipeline
// passes, in Input.Dependents, the known resources whose bodies contain
// (case-insensitively) one of the strings Refers returns for the judged
// state. Finding them reads every known resource: Refers should name only
// what the state refers to anew.
type Referrer interface {
	Rule
	Refers(in Input) []string
}

// ChildVerdictGrant is the GrantID a rule gives a verdict about a child settings
// resource reported on its parent (DESIGN 3.3: a SQL server's encryptionProtector,
// a failover group): the child's IDKey, so that one parent's children have
// findings of their own, and deleting the child resolves its finding.
func ChildVerdictGrant(childID string) string { return IDKey(childID) }
