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

// RuleIDs lists every rule ID, in the order DESIGN 3.3 gives them.
var RuleIDs = []string{RuleResidencyLocation, RuleResidencyReplication, RuleEncryptionCMK,
	RuleTransitTLS, RuleJITOverstay, RuleJITWindow, RuleUnscreenedPrincipal}

// Input is everything a rule may look at. Rules are pure: they read no clock and
// no network, only this.
type Input struct {
	Policy   *Policy
	Resource *Resource // current state; Deleted when the resource is gone
	Previous *Resource // last known state before this one, or nil
	Now      time.Time
}

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
