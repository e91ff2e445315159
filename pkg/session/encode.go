package session

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Entry is a line to write: one of EventHub, EventGrid, ARM and Clock.
type Entry interface {
	source() string
}

// EventHub is an eventhub line: one Event Hubs message as the trigger
// delivered it. Body is the message body as JSON (Body turns any message into
// one). PartitionID and SequenceNumber say where record read it; replay does
// not read them.
type EventHub struct {
	EnqueuedTime   time.Time
	PartitionID    string
	SequenceNumber int64
	Body           json.RawMessage
}

// EventGrid is an eventgrid line: one Event Grid delivery (an event or an
// array of them, in either schema).
type EventGrid struct {
	Time time.Time
	Body json.RawMessage
}

// ARM is an arm line: the resource as GET on ARM returned it at ObservedAt
// (Body.id is its ID), or, Deleted, gone from then on. ReadAt, when set, is
// when it was really read (record serves a read at the time of the line it is
// for).
type ARM struct {
	ObservedAt time.Time
	ReadAt     time.Time
	Deleted    bool
	Body       json.RawMessage
}

// Clock is a clock line: the replay clock moves to At, running the timers due.
type Clock struct {
	At time.Time
}

func (EventHub) source() string  { return SourceEventHub }
func (EventGrid) source() string { return SourceEventGrid }
func (ARM) source() string       { return SourceARM }
func (Clock) source() string     { return SourceClock }

// Field order and names on the wire: source first, then the timestamp.
type (
	eventHubWire struct {
		Source         string          `json:"source"`
		EnqueuedTime   string          `json:"enqueuedTime"`
		PartitionID    string          `json:"partitionId,omitempty"`
		SequenceNumber int64           `json:"sequenceNumber,omitempty"`
		Body           json.RawMessage `json:"body"`
	}
	eventGridWire struct {
		Source string          `json:"source"`
		Time   string          `json:"time"`
		Body   json.RawMessage `json:"body"`
	}
	armWire struct {
		Source     string          `json:"source"`
		ObservedAt string          `json:"observedAt"`
		ReadAt     string          `json:"readAt,omitempty"`
		Deleted    bool            `json:"deleted,omitempty"`
		Body       json.RawMessage `json:"body"`
	}
	clockWire struct {
		Source string `json:"source"`
		At     string `json:"at"`
	}
)

// Encode is e as one session line, without the newline: compact JSON, HTML
// characters as they are. Times are written in UTC, RFC 3339 with as many
// fractional digits as they have. Whether the line is one Parse accepts (an
// arm body with an acceptable id) is the caller's to check, by parsing it.
func Encode(e Entry) ([]byte, error) {
	var v any
	switch e := e.(type) {
	case EventHub:
		v = eventHubWire{SourceEventHub, stamp(e.EnqueuedTime), e.PartitionID, e.SequenceNumber, e.Body}
	case EventGrid:
		v = eventGridWire{SourceEventGrid, stamp(e.Time), e.Body}
	case ARM:
		readAt := ""
		if !e.ReadAt.IsZero() {
			readAt = stamp(e.ReadAt)
		}
		v = armWire{SourceARM, stamp(e.ObservedAt), readAt, e.Deleted, e.Body}
	case Clock:
		v = clockWire{SourceClock, stamp(e.At)}
	default:
		return nil, fmt.Errorf("session: encode %T: not a line type", e)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("session: encode %s line: %w", e.source(), err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Body is a message as an eventhub or eventgrid line's body: its JSON,
// compacted (a line holds no newline), when it is JSON, else a JSON string of
// its text. Message undoes it.
func Body(message []byte) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, bytes.TrimSpace(message)); err == nil && buf.Len() > 0 {
		return buf.Bytes()
	}
	b, _ := json.Marshal(string(message)) // a string always encodes
	return b
}
