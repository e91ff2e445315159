package guard

import (
	"encoding/json"
	"fmt"
	"time"
)

// Keys the centre (and the remediation engine, through the centre's store)
// keeps in a finding's evidence beside the rule's own facts. Other packages
// read them (notify tells of them, report counts them, remediate resumes from
// its record), so they are named once, here. Their JSON is part of the
// finding (DESIGN 3.4) and does not change.
const (
	// EvidenceResolution is what the fix looked like: Resolution.
	EvidenceResolution = "resolution"
	// EvidenceExemption is the exemption that covers an exempt finding:
	// ExemptionEvidence.
	EvidenceExemption = "exemption"
	// EvidenceExemptionExpired is the exemption that covered a finding until
	// it expired and the finding reopened: ExemptionEvidence.
	EvidenceExemptionExpired = "exemptionExpired"
	// EvidenceRemediation is the remediation engine's durable record of its
	// latest outcome for the finding (its type is the engine's); the centre
	// carries it while the finding's status does not change.
	EvidenceRemediation = "remediation"
)

// Resolution is what evidence.resolution holds: the verdict that resolved the
// finding, its message and facts.
type Resolution struct {
	Message string         `json:"message"`
	Facts   map[string]any `json:"facts"`
}

// ExemptionEvidence is what evidence.exemption and evidence.exemptionExpired
// hold: the policy exemption, as the centre copied it onto the finding.
type ExemptionEvidence struct {
	Resource   string    `json:"resource"`
	Reason     string    `json:"reason"`
	ApprovedBy string    `json:"approvedBy"`
	ExpiresOn  time.Time `json:"expiresOn"`
}

// resolutionEvidence is the evidence.resolution value of a verdict. A map,
// not a Resolution, so that the evidence holds the same JSON-shaped values in
// memory as after a store's round trip.
func resolutionEvidence(v Verdict) map[string]any {
	return map[string]any{"message": v.Message, "facts": v.Evidence}
}

// exemptionEvidence is the evidence.exemption value of an exemption (a map,
// as resolutionEvidence is).
func exemptionEvidence(ex Exemption) map[string]any {
	return map[string]any{"resource": ex.Resource, "reason": ex.Reason, "approvedBy": ex.ApprovedBy, "expiresOn": ex.ExpiresOn}
}

// ResolutionOf reads evidence.resolution; false when there is none.
func ResolutionOf(ev map[string]any) (Resolution, bool) {
	var r Resolution
	return r, DecodeEvidence(ev, EvidenceResolution, &r)
}

// ExemptionOf reads evidence[key], key EvidenceExemption or
// EvidenceExemptionExpired; false when there is none.
func ExemptionOf(ev map[string]any, key string) (ExemptionEvidence, bool) {
	var ex ExemptionEvidence
	return ex, DecodeEvidence(ev, key, &ex)
}

// DecodeEvidence decodes the object evidence[key] into into (a pointer to a
// struct) through its JSON, so that it reads the same whether the finding came
// from a store (a map of JSON values) or was just built (Go values). False when
// the key is missing, is not an object, or does not decode.
func DecodeEvidence(ev map[string]any, key string, into any) bool {
	v, ok := ev[key]
	if !ok || v == nil {
		return false
	}
	b, err := json.Marshal(v)
	if err != nil || len(b) == 0 || b[0] != '{' {
		return false
	}
	return json.Unmarshal(b, into) == nil
}

// WithEvidence returns a copy of ev with evidence[key] set to v's JSON as a
// map of JSON values (what a store's round trip gives back), so that the
// finding reads the same before and after it is stored.
func WithEvidence(ev map[string]any, key string, v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("evidence %s: %w", key, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("evidence %s is not an object: %w", key, err)
	}
	out := make(map[string]any, len(ev)+1)
	for k, x := range ev {
		out[k] = x
	}
	out[key] = m
	return out, nil
}
