package functions

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// The invocation bodies the Functions host POSTs to the handler (research
// note §2), built for a caller that stands in for the host: replay --via to a
// running exportguard serve. They are the inverse of what envelope.go decodes,
// and its tests hold the two to each other (invocations_test.go).

// The function names a caller standing in for the host POSTs to (/<name>)
// are in names.go.

// hostTime is how the host writes a DateTime whose kind is unspecified (the
// Event Hubs enqueued times, §2.5): no zone.
const hostTime = "2006-01-02T15:04:05.9999999"

// EventHubMessage is one message of an Event Hubs batch.
type EventHubMessage struct {
	Body           []byte
	EnqueuedTime   time.Time
	SequenceNumber int64
}

// EventHubInvocation is the body for activitylog, an eventHubTrigger with
// cardinality many and dataType string: Data.events is a JSON string holding a
// JSON array of the message bodies as strings (string[] through
// JsonConvert.SerializeObject, §2.1 and §2.5), and the *Array metadata entries
// are strings holding JSON arrays too. hub names the event hub in
// Metadata.PartitionContext; now is Metadata.sys.UtcNow.
func EventHubInvocation(msgs []EventHubMessage, hub string, now time.Time) []byte {
	bodies := make([]string, len(msgs))
	keys := make([]any, len(msgs))
	offsets := make([]string, len(msgs))
	seqs := make([]int64, len(msgs))
	times := make([]string, len(msgs))
	props := make([]map[string]any, len(msgs))
	sys := make([]map[string]any, len(msgs))
	for i, m := range msgs {
		at := m.EnqueuedTime.UTC().Format(hostTime)
		bodies[i], offsets[i], seqs[i], times[i], props[i] = string(m.Body), strconv.FormatInt(m.SequenceNumber, 10), m.SequenceNumber, at, map[string]any{}
		sys[i] = map[string]any{"SequenceNumber": m.SequenceNumber, "Offset": m.SequenceNumber, "PartitionKey": nil, "EnqueuedTimeUtc": at}
	}
	return jsonText(map[string]any{
		"Data": map[string]any{bindEvents: string(jsonText(bodies))},
		"Metadata": map[string]any{
			"PartitionContext": map[string]string{
				"FullyQualifiedNamespace": "exportguard-replay", "EventHubName": hub, "ConsumerGroup": "$Default", "PartitionId": "0",
			},
			"PartitionKeyArray":     string(jsonText(keys)),
			"OffsetArray":           string(jsonText(offsets)),
			"SequenceNumberArray":   string(jsonText(seqs)),
			"EnqueuedTimeUtcArray":  string(jsonText(times)),
			"PropertiesArray":       string(jsonText(props)),
			"SystemPropertiesArray": string(jsonText(sys)),
			"sys":                   hostSys(fnActivityLog, now),
		},
	})
}

// EventGridInvocation is the body for resourceevents, an eventGridTrigger:
// Data.event is the event as a JSON object, Metadata.data its data (§2.6). An
// event that is not JSON goes as a JSON string (the host would not have parsed
// it; the handler takes a string the same way, and the pipeline keeps it as
// poison).
func EventGridInvocation(event []byte, now time.Time) []byte {
	meta := map[string]any{"sys": hostSys(fnResourceEvents, now)}
	data := map[string]any{bindEvent: string(event)}
	if json.Valid(event) {
		data[bindEvent] = json.RawMessage(event)
		var ev struct {
			Data json.RawMessage `json:"data"`
		}
		if json.Unmarshal(event, &ev) == nil && len(ev.Data) > 0 && string(ev.Data) != "null" {
			meta["data"] = ev.Data
		}
	}
	return jsonText(map[string]any{"Data": data, "Metadata": meta})
}

// TimerInvocation is the body for sweep, a timerTrigger: Data.timer is the
// TimerInfo object (§2.4), its schedule status the tick at last and the next
// at next.
func TimerInvocation(last, next, now time.Time) []byte {
	t := last.UTC().Format(time.RFC3339Nano)
	timer := map[string]any{
		"Schedule":       map[string]bool{"AdjustForDST": true},
		"ScheduleStatus": map[string]string{"Last": t, "Next": next.UTC().Format(time.RFC3339Nano), "LastUpdated": t},
		"IsPastDue":      false,
	}
	return jsonText(map[string]any{"Data": map[string]any{bindTimer: timer},
		"Metadata": map[string]any{"sys": hostSys(fnSweep, now)}})
}

// hostSys is Metadata.sys.
func hostSys(function string, now time.Time) map[string]string {
	return map[string]string{"MethodName": function, "UtcNow": now.UTC().Format(time.RFC3339Nano), "RandGuid": NewUUID()}
}

// jsonText is v as JSON. v is only ever built here of strings, numbers, maps
// and valid json.RawMessage, which always encode.
func jsonText(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte("null") // unreachable: see above; the handler refuses it as not an envelope
	}
	return b
}

// NewUUID is a random (version 4) UUID, as the host's invocation IDs are.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
