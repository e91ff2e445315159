package eventgrid

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/exportguard/exportguard/internal/fastjson"
	"github.com/exportguard/exportguard/pkg/guard"
)

// MaxBodyBytes is the largest delivery Decode reads. A bigger body is refused as a
// whole. The limit is four times the largest preferred batch size an Event Grid
// subscription can set (1024 KB, functions-custom-handler.md §8.3).
const MaxBodyBytes = 4 << 20

// maxRejectedBytes bounds the copy of a bad event kept in guard.Rejected.
const maxRejectedBytes = 64 << 10

var _ guard.Decoder = Decode

// Decode reads one Event Grid delivery: a single event object or a JSON array of
// them. Each event may be in the Event Grid schema or in CloudEvents 1.0. An event of
// interest becomes a Change. An event of another type is counted in Ignored. An
// unusable event becomes a Rejected with the reason. The error is only for a
// delivery that is unreadable as a whole: larger than MaxBodyBytes, not JSON, or
// neither an object nor an array.
func Decode(body []byte) (guard.Decoded, error) {
	var d guard.Decoded
	if len(body) > MaxBodyBytes {
		return d, fmt.Errorf("event grid delivery is %d bytes, more than %d", len(body), MaxBodyBytes)
	}
	events, err := split(body)
	if err != nil {
		return d, err
	}
	for i, raw := range events {
		c, ok, err := decodeEvent(raw)
		switch {
		case err != nil:
			d.Rejected = append(d.Rejected, guard.Rejected{
				Reason: fmt.Sprintf("event grid event %d: %v", i, err),
				Body:   truncate(raw),
			})
		case !ok:
			d.Ignored++
		default:
			d.Changes = append(d.Changes, c)
		}
	}
	return d, nil
}

// split returns the events of a delivery, each as it was written. The first
// non-space byte tells whether the delivery is one event or an array: the schema,
// the batching settings and the Functions host all change which one arrives
// (functions-custom-handler.md §8.3).
func split(body []byte) ([]json.RawMessage, error) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return nil, errors.New("event grid delivery is empty")
	}
	switch b[0] {
	case '[':
		var events []json.RawMessage
		if err := fastjson.Unmarshal(b, &events); err != nil {
			return nil, fmt.Errorf("event grid delivery: %w", err)
		}
		return events, nil
	case '{':
		var event json.RawMessage
		if err := fastjson.Unmarshal(b, &event); err != nil {
			return nil, fmt.Errorf("event grid delivery: %w", err)
		}
		return []json.RawMessage{event}, nil
	default:
		return nil, errors.New("event grid delivery is neither a JSON object nor an array")
	}
}

// event is what Decode needs of an event, whichever schema it came in.
type event struct {
	ID      string
	Type    string
	Source  string // Event Grid topic or CloudEvents source: the ARM ID of the publisher
	Subject string
	Time    time.Time       // zero when absent
	Data    json.RawMessage // nil when absent
}

// decodeEvent turns one event into a change. ok is false for an event of no
// interest.
func decodeEvent(raw json.RawMessage) (c guard.Change, ok bool, err error) {
	if b := bytes.TrimSpace(raw); len(b) == 0 || b[0] != '{' {
		return c, false, errors.New("not a JSON object")
	}
	var attrs map[string]json.RawMessage
	if err := fastjson.Unmarshal(raw, &attrs); err != nil {
		return c, false, err
	}
	var e event
	switch {
	case hasKey(attrs, "eventType"):
		e, err = fromEventGridSchema(raw)
	case hasKey(attrs, "specversion"):
		e, err = fromCloudEvent(attrs)
	default:
		return c, false, errors.New("neither Event Grid schema (no eventType) nor CloudEvents (no specversion)")
	}
	if err != nil {
		return c, false, err
	}
	c, ok, err = changeOf(e)
	if ok && err == nil {
		err = checkIDs(c)
	}
	if err != nil {
		return guard.Change{}, false, wrapType(e, err)
	}
	return c, ok, nil
}

// changeOf turns an event of interest into a change; ok is false for an event
// of no interest.
func changeOf(e event) (c guard.Change, ok bool, err error) {
	if action, outcome, ok := resourceEventType(e.Type); ok {
		c, err = resourceChange(e, action, outcome)
		return c, true, err
	}
	if action, ok := notificationType(e.Type); ok {
		c, err = notificationChange(e, action)
		return c, true, err
	}
	if kind, ok := keyEventType(e.Type); ok {
		c, err = keyChange(e, kind)
		return c, true, err
	}
	return c, false, nil
}

// checkIDs refuses a change whose resource ID could be read two ways: it must
// reach no rule, plan or write (DESIGN 3.6). The reason never repeats the ID.
func checkIDs(c guard.Change) error {
	if err := guard.CheckResourceID(c.ResourceID); err != nil {
		return err
	}
	if c.Resource != nil && c.Resource.ID != c.ResourceID {
		if err := guard.CheckResourceID(c.Resource.ID); err != nil {
			return fmt.Errorf("the resource the event carries: %w", err)
		}
	}
	return nil
}

func wrapType(e event, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %s: %w", e.Type, e.ID, err)
}

// egEvent is what fromEventGridSchema reads of an event in the Event Grid schema.
type egEvent struct {
	ID        json.RawMessage `json:"id"`
	EventType json.RawMessage `json:"eventType"`
	Topic     json.RawMessage `json:"topic"`
	Subject   json.RawMessage `json:"subject"`
	EventTime json.RawMessage `json:"eventTime"`
	Data      json.RawMessage `json:"data"`
}

// fromEventGridSchema reads an event in the Event Grid schema.
func fromEventGridSchema(raw json.RawMessage) (event, error) {
	var eg egEvent
	if err := fastjson.Unmarshal(raw, &eg); err != nil {
		return event{}, err
	}
	var e event
	var err error
	if e.Type, err = required("eventType", eg.EventType); err != nil {
		return event{}, err
	}
	if e.ID, err = required("id", eg.ID); err != nil {
		return event{}, err
	}
	if e.Subject, err = optional("subject", eg.Subject); err != nil {
		return event{}, err
	}
	e.Source = text(eg.Topic) // checked only by the event types that need it
	written, err := optional("eventTime", eg.EventTime)
	if err != nil {
		return event{}, err
	}
	if written != "" {
		if e.Time, err = parseTime(written); err != nil {
			return event{}, err
		}
	}
	e.Data = eg.Data
	return e, nil
}

// truncate copies a piece of input for guard.Rejected, cut to maxRejectedBytes.
func truncate(b []byte) []byte {
	if len(b) > maxRejectedBytes {
		b = b[:maxRejectedBytes]
	}
	return bytes.Clone(b)
}

// hasKey reports whether attrs has the key, in any casing.
func hasKey(attrs map[string]json.RawMessage, key string) bool {
	for k := range attrs {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}
