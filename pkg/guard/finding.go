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
	// Pending is set by the write that moves the finding to a new status and
	// cleared once the transition's audit record and outbox items (its
	// notifications, its remediation plan) are stored. A process that dies in
	// between leaves it: the same change delivered again at the same time (a
	// replay run again) tells the transition at once; otherwise, once
	// PendingLease has passed, the next write of the finding or the sweep does.
	// Its record and items are written at least once, never lost. Absent
	// otherwise. It is the pipeline's bookkeeping, not part of the finding's
	// JSON (DESIGN 3.4): stores keep it beside the finding (StoredFinding).
	Pending *PendingTransition `json:"-"`
}

// StoredFinding is a finding as a store keeps it: the finding's JSON with its
// pending transition, under "pending", beside the other fields.
type StoredFinding struct {
	Finding
	Pending *PendingTransition `json:"pending,omitempty"`
}

// Stored is f as a store keeps it.
func Stored(f Finding) StoredFinding { return StoredFinding{Finding: f, Pending: f.Pending} }

// Unstored is the finding a store kept as s.
func (s StoredFinding) Unstored() Finding {
	f := s.Finding
	f.Pending = s.Pending
	return f
}

// PendingTransition is what finishing a stored transition needs beyond the
// finding itself.
type PendingTransition struct {
	From Status    `json:"from"` // the status before ("" for a new finding)
	At   time.Time `json:"at"`   // when it moved
	By   string    `json:"by"`   // the process that moved it (a random name)
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
