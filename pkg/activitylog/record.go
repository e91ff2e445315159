package activitylog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/exportguard/exportguard/internal/fastjson"
	"github.com/exportguard/exportguard/pkg/guard"
)

// record holds the fields Decode reads from an Administrative record (research
// note §1.3). They stay raw so that a field of an unexpected type spoils only
// itself, not the record; everything else (category, durationMs, level,
// properties, ...) is ignored.
type record struct {
	Time          json.RawMessage `json:"time"`
	ResourceID    json.RawMessage `json:"resourceId"`
	OperationName json.RawMessage `json:"operationName"` // a string; {"value": ...} in the REST schema
	ResultType    json.RawMessage `json:"resultType"`
	Status        json.RawMessage `json:"status"` // REST schema {"value": ...}, read when resultType is absent
	CorrelationID json.RawMessage `json:"correlationId"`
	// Identity is read in the same pass, best effort: a part of it of an
	// unexpected type is left zero and the rest is still read.
	Identity guard.Identity `json:"identity"`
}

func decodeRecord(raw json.RawMessage) (guard.Change, error) {
	if b := bytes.TrimSpace(raw); len(b) == 0 || b[0] != '{' {
		return guard.Change{}, errors.New("not a JSON object")
	}
	var r record
	if err := fastjson.Unmarshal(raw, &r); err != nil {
		// Every field but identity is raw, so a type error can only be about a
		// part of identity: that part is skipped, and the record is still read
		// (a record without a usable identity has no caller, nothing worse).
		if _, ok := errors.AsType[*json.UnmarshalTypeError](err); !ok {
			return guard.Change{}, err
		}
	}
	return changeOf(&r)
}

// changeOf makes the change a decoded record describes, or says why it cannot.
func changeOf(r *record) (guard.Change, error) {
	id, err := required("resourceId", r.ResourceID)
	if err != nil {
		return guard.Change{}, err
	}
	if err := guard.CheckResourceID(id); err != nil { // DESIGN 3.6: never reaches a rule
		return guard.Change{}, fmt.Errorf("resourceId: %w", err)
	}
	opName, err := required("operationName", valueOf(r.OperationName))
	if err != nil {
		return guard.Change{}, err
	}
	written, err := required("time", r.Time)
	if err != nil {
		return guard.Change{}, err
	}
	at, err := time.Parse(time.RFC3339Nano, written)
	if err != nil {
		return guard.Change{}, fmt.Errorf("time %q is not RFC 3339", written)
	}
	status, _ := str(r.ResultType)
	if status == "" {
		status, _ = str(valueOf(r.Status))
	}
	corr, _ := str(r.CorrelationID)
	corr = strings.TrimSpace(corr)

	ident := r.Identity

	op := opName
	if action, _ := str(ident.Authorization.Action); strings.EqualFold(strings.TrimSpace(action), opName) {
		op = strings.TrimSpace(action) // the RBAC action is canonically cased, T1's operationName is not
	}
	return guard.Change{
		ResourceID:     id,
		SubscriptionID: guard.SubscriptionOf(id),
		ResourceType:   guard.TypeOf(id),
		Operation:      op,
		Action:         guard.ActionOf(op),
		Outcome:        outcomeOf(status),
		Caller:         ident.Caller(),
		CorrelationID:  corr,
		EventTime:      at.UTC(),
		Source:         guard.SourceEventHub,
		EventID:        eventID(corr, opName, status, id, written),
	}, nil
}

// outcomeOf maps resultType (or the REST status.value) to an outcome. Both the
// observed values (Start, Success, Failure) and the documented ones (Started,
// Succeeded, Failed, ...) occur (research note §1.3). resultSignature is not read:
// Success counts whether it is Succeeded.OK, Succeeded.Accepted or Succeeded.Created.
func outcomeOf(status string) guard.Outcome {
	switch strings.ToLower(strings.TrimSpace(status)) {
	case "success", "succeeded":
		return guard.OutcomeSucceeded
	case "start", "started", "accept", "accepted", "in progress", "active":
		return guard.OutcomeStarted
	case "failure", "failed", "cancel", "canceled", "cancelled":
		return guard.OutcomeFailed
	default:
		return guard.OutcomeUnknown
	}
}

// eventID derives a stable ID for a record, since the diagnostic schema has none: the
// same record delivered twice gets the same ID, and the Start and Success records of
// one operation get different ones.
func eventID(correlationID, operationName, resultType, resourceID, timeAsWritten string) string {
	h := sha256.New()
	for i, s := range []string{strings.ToLower(correlationID), strings.ToLower(operationName),
		strings.ToLower(resultType), strings.ToLower(resourceID), timeAsWritten} {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(s))
	}
	return "al-" + hex.EncodeToString(h.Sum(nil))[:32]
}

// required reads a field that must be a non-empty string, trimmed.
func required(name string, raw json.RawMessage) (string, error) {
	s, ok := str(raw)
	if !ok {
		return "", fmt.Errorf("%s is not a string", name)
	}
	if s = strings.TrimSpace(s); s == "" {
		return "", fmt.Errorf("missing %s", name)
	}
	return s, nil
}

// str reads a JSON string: fastjson.String.
func str(raw json.RawMessage) (string, bool) { return fastjson.String(raw) }

// restValue is the REST schema's {"value": ..., "localizedValue": ...} form.
type restValue struct {
	Value json.RawMessage `json:"value"`
}

// valueOf unwraps the REST schema's {"value": ..., "localizedValue": ...} form and
// returns any other value as it is.
func valueOf(raw json.RawMessage) json.RawMessage {
	if b := bytes.TrimSpace(raw); len(b) == 0 || b[0] != '{' {
		return raw
	}
	var v restValue
	if err := fastjson.Unmarshal(raw, &v); err != nil {
		return nil
	}
	return v.Value
}
