package guard

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Status is where a finding stands.
type Status string

const (
	StatusOpen     Status = "open"
	StatusResolved Status = "resolved"
	StatusExempt   Status = "exempt"
)

// Finding is one rule's verdict about one resource (or grant), with its history.
// Its JSON is the contract of DESIGN 3.4: replay --format json prints it and other
// systems read it.
type Finding struct {
	ID             string         `json:"id"`
	Rule           string         `json:"rule"`
	Severity       string         `json:"severity"`
	Status         Status         `json:"status"`
	SubscriptionID string         `json:"subscriptionId"`
	ResourceID     string         `json:"resourceId"`
	Message        string         `json:"message"`
	Evidence       map[string]any `json:"evidence"`
	FirstSeen      time.Time      `json:"firstSeen"`
	LastSeen       time.Time      `json:"lastSeen"`
	ResolvedAt     *time.Time     `json:"resolvedAt,omitempty"`
	Trigger        Trigger        `json:"trigger"`
	Remediation    Remediation    `json:"remediation"`
}

// Trigger is the event that caused a finding's latest transition.
type Trigger struct {
	Source        Source `json:"source"`
	EventID       string `json:"eventId"`
	CorrelationID string `json:"correlationId"`
	Caller        string `json:"caller"`
}

// Remediation is what exportguard would do, or did, about a finding.
type Remediation struct {
	Action string `json:"action"`
	Mode   string `json:"mode"`   // off, dry-run, approve, auto
	Status string `json:"status"` // none, planned, awaiting-approval, applied, failed
}

// FindingID is the stable ID of the finding of rule about resourceID (and grant,
// for findings about one grant among several on a resource): the same violation
// always maps to the same finding, whichever event reported it.
func FindingID(rule, resourceID, grantID string) string {
	sum := sha256.Sum256([]byte(rule + "\x00" + IDKey(resourceID) + "\x00" + grantID))
	return hex.EncodeToString(sum[:16])
}
