package activitylog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/exportguard/exportguard/internal/fastjson"
	"github.com/exportguard/exportguard/pkg/guard"
)

// MaxBodyBytes is the largest message body Decode reads. A bigger body is refused as
// a whole, so a stray payload cannot make the handler parse without bound. The limit
// is four times the 1 MB event limit of a Standard Event Hubs namespace.
const MaxBodyBytes = 4 << 20

// maxRejectedBytes bounds the copy of a bad record kept in guard.Rejected.
const maxRejectedBytes = 64 << 10

var _ guard.Decoder = Decode

// Decode reads one Event Hubs message body: an Activity Log {"records":[...]}
// envelope in the diagnostic-settings schema. Each record becomes a Change, or a
// Rejected with the reason if it is unusable. The error is only for a body that is
// unreadable as a whole: larger than MaxBodyBytes, not JSON, not an object, or
// without a records array.
func Decode(body []byte) (guard.Decoded, error) {
	var d guard.Decoded
	if len(body) > MaxBodyBytes {
		return d, fmt.Errorf("activity log message is %d bytes, more than %d", len(body), MaxBodyBytes)
	}
	if d, ok := decodeWhole(body); ok {
		return d, nil
	}
	records, err := splitEnvelope(body)
	if err != nil {
		return d, err
	}
	for i, raw := range records {
		c, err := decodeRecord(raw)
		if err != nil {
			d.Rejected = append(d.Rejected, guard.Rejected{
				Reason: fmt.Sprintf("activity log record %d: %v", i, err),
				Body:   truncate(raw),
			})
			continue
		}
		d.Changes = append(d.Changes, c)
	}
	return d, nil
}

// decodeWhole is Decode for a message whose every record is usable, the usual
// case: the envelope and its records are read in one json.Unmarshal (two passes
// over the bytes instead of four). It is false for anything else (a record to
// reject, a type error, a body that is not an envelope), and Decode then reads
// the message record by record, which keeps a rejected record's bytes and says
// what is wrong; for a message that decodeWhole reads, both give the same
// changes.
func decodeWhole(body []byte) (guard.Decoded, bool) {
	var d guard.Decoded
	if b := bytes.TrimSpace(body); len(b) == 0 || b[0] != '{' {
		return d, false
	}
	var env wholeEnvelope
	if fastjson.Unmarshal(body, &env) != nil || env.Records == nil {
		return d, false
	}
	for i := range env.Records {
		c, err := changeOf(&env.Records[i])
		if err != nil {
			return guard.Decoded{}, false
		}
		d.Changes = append(d.Changes, c)
	}
	return d, true
}

// wholeEnvelope is the message as decodeWhole reads it.
type wholeEnvelope struct {
	Records []record `json:"records"`
}

// rawEnvelope is the message as splitEnvelope reads it.
type rawEnvelope struct {
	Records json.RawMessage `json:"records"`
}

// splitEnvelope returns the elements of the records array, each as it was written.
func splitEnvelope(body []byte) ([]json.RawMessage, error) {
	if b := bytes.TrimSpace(body); len(b) == 0 || b[0] != '{' {
		return nil, errors.New("activity log message is not a JSON object")
	}
	var env rawEnvelope
	if err := fastjson.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("activity log message: %w", err)
	}
	if r := bytes.TrimSpace(env.Records); len(r) == 0 || r[0] != '[' {
		return nil, errors.New("activity log message has no records array")
	}
	var records []json.RawMessage
	if err := fastjson.Unmarshal(env.Records, &records); err != nil {
		return nil, fmt.Errorf("activity log records: %w", err)
	}
	return records, nil
}

// truncate copies a piece of input for guard.Rejected, cut to maxRejectedBytes.
func truncate(b []byte) []byte {
	if len(b) > maxRejectedBytes {
		b = b[:maxRejectedBytes]
	}
	return bytes.Clone(b)
}
