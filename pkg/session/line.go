package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// MaxLineBytes bounds one session line (an Event Hubs message is at most 1 MB;
// an Event Grid delivery at most 1 MB; room is left for encoding).
const MaxLineBytes = 8 << 20

// Session line sources (DESIGN 3.2).
const (
	SourceEventHub  = "eventhub"
	SourceEventGrid = "eventgrid"
	SourceARM       = "arm"
	SourceClock     = "clock"
)

// timeKeys names the timestamp field of each source.
var timeKeys = map[string]string{
	SourceEventHub:  "enqueuedTime",
	SourceEventGrid: "time",
	SourceARM:       "observedAt",
	SourceClock:     "at",
}

// Line is one parsed session line, whatever its source: At is the source's
// timestamp (enqueuedTime, time, observedAt or at), in UTC.
type Line struct {
	Source  string
	At      time.Time
	Body    json.RawMessage // eventhub, eventgrid, arm
	ID      string          // arm: body.id
	Deleted bool            // arm: the resource is gone from this time on
}

// Message is what an eventhub or eventgrid line's body stands for: the JSON as
// it is, or the text of a JSON string (record writes a message body that is not
// JSON as a string: Body).
func (l Line) Message() []byte {
	return Message(l.Body)
}

// Message is the message a line's body stands for (Line.Message).
func Message(body json.RawMessage) []byte {
	var s string
	if len(body) > 0 && body[0] == '"' && json.Unmarshal(body, &s) == nil {
		return []byte(s)
	}
	return append([]byte(nil), body...)
}

// Parse reads one session line. Unknown fields are ignored; what a source
// needs (its timestamp, a body, an arm body's id) must be there.
func Parse(b []byte) (Line, error) {
	var raw struct {
		Source       string          `json:"source"`
		EnqueuedTime string          `json:"enqueuedTime"`
		Time         string          `json:"time"`
		ObservedAt   string          `json:"observedAt"`
		At           string          `json:"at"`
		Body         json.RawMessage `json:"body"`
		Deleted      bool            `json:"deleted"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Line{}, fmt.Errorf("not a JSON object: %w", err)
	}
	l := Line{Source: raw.Source, Body: raw.Body, Deleted: raw.Deleted}
	key, ok := timeKeys[raw.Source]
	if !ok {
		return Line{}, fmt.Errorf("source %q is not eventhub, eventgrid, arm or clock", raw.Source)
	}
	ts := map[string]string{"enqueuedTime": raw.EnqueuedTime, "time": raw.Time, "observedAt": raw.ObservedAt, "at": raw.At}[key]
	if ts == "" {
		return Line{}, fmt.Errorf("%s line without %q", raw.Source, key)
	}
	at, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return Line{}, fmt.Errorf("%s: %q is not an RFC 3339 time", key, ts)
	}
	l.At = at.UTC()
	if raw.Source == SourceClock {
		return l, nil
	}
	if len(raw.Body) == 0 || string(raw.Body) == "null" {
		return Line{}, errors.New(raw.Source + " line without a body")
	}
	if raw.Source == SourceARM {
		var head struct {
			ID      string `json:"id"`
			Deleted bool   `json:"deleted"`
		}
		if err := json.Unmarshal(raw.Body, &head); err != nil {
			return Line{}, fmt.Errorf("arm body is not a resource object: %w", err)
		}
		if strings.TrimSpace(head.ID) == "" {
			return Line{}, errors.New("arm body without an id")
		}
		if err := guard.CheckResourceID(strings.TrimSpace(head.ID)); err != nil {
			return Line{}, fmt.Errorf("arm body id: %w", err) // DESIGN 3.6: never an answer to a read
		}
		l.ID, l.Deleted = strings.TrimSpace(head.ID), l.Deleted || head.Deleted
	}
	return l, nil
}
