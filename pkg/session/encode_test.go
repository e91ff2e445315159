package session

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The line types encode to the field names DESIGN 3.2 gives, source first, and
// Parse reads back what was written.
func TestEncode(t *testing.T) {
	at := time.Date(2026, 11, 2, 9, 14, 2, 301e6, time.FixedZone("CET", 3600))
	const id = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/a"
	tests := []struct {
		name string
		e    Entry
		want string
		line Line
	}{
		{"eventhub", EventHub{EnqueuedTime: at, PartitionID: "3", SequenceNumber: 7, Body: json.RawMessage(`{ "records": [ {"x": "<&>"} ] }`)},
			`{"source":"eventhub","enqueuedTime":"2026-11-02T08:14:02.301Z","partitionId":"3","sequenceNumber":7,"body":{"records":[{"x":"<&>"}]}}`,
			Line{Source: SourceEventHub, At: at.UTC(), Body: json.RawMessage(`{"records":[{"x":"<&>"}]}`)}},
		{"eventhub, no partition", EventHub{EnqueuedTime: at, Body: Body([]byte("not json"))},
			`{"source":"eventhub","enqueuedTime":"2026-11-02T08:14:02.301Z","body":"not json"}`,
			Line{Source: SourceEventHub, At: at.UTC(), Body: json.RawMessage(`"not json"`)}},
		{"eventgrid", EventGrid{Time: at, Body: json.RawMessage(`[]`)},
			`{"source":"eventgrid","time":"2026-11-02T08:14:02.301Z","body":[]}`,
			Line{Source: SourceEventGrid, At: at.UTC(), Body: json.RawMessage(`[]`)}},
		{"arm", ARM{ObservedAt: at, ReadAt: at.Add(time.Second), Body: json.RawMessage(`{"id":"` + id + `"}`)},
			`{"source":"arm","observedAt":"2026-11-02T08:14:02.301Z","readAt":"2026-11-02T08:14:03.301Z","body":{"id":"` + id + `"}}`,
			Line{Source: SourceARM, At: at.UTC(), ID: id, Body: json.RawMessage(`{"id":"` + id + `"}`)}},
		{"arm deleted", ARM{ObservedAt: at, Deleted: true, Body: json.RawMessage(`{"id":"` + id + `"}`)},
			`{"source":"arm","observedAt":"2026-11-02T08:14:02.301Z","deleted":true,"body":{"id":"` + id + `"}}`,
			Line{Source: SourceARM, At: at.UTC(), ID: id, Deleted: true, Body: json.RawMessage(`{"id":"` + id + `"}`)}},
		{"clock", Clock{At: at}, `{"source":"clock","at":"2026-11-02T08:14:02.301Z"}`, Line{Source: SourceClock, At: at.UTC()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(tt.e)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("Encode =\n%s\nwant\n%s", b, tt.want)
			}
			l, err := Parse(b)
			if err != nil {
				t.Fatalf("Parse(Encode) = %v", err)
			}
			if l.Source != tt.line.Source || !l.At.Equal(tt.line.At) || l.ID != tt.line.ID || l.Deleted != tt.line.Deleted ||
				!bytes.Equal(l.Body, tt.line.Body) {
				t.Errorf("Parse(Encode) = %+v, want %+v", l, tt.line)
			}
		})
	}
	if _, err := Encode(EventGrid{Time: at, Body: json.RawMessage(`{`)}); err == nil {
		t.Error("a body that is not JSON was encoded")
	}
	if _, err := Encode(nil); err == nil {
		t.Error("nil was encoded")
	}
}

// Body and Message undo each other: a message as its line holds it and back.
func TestBodyAndMessage(t *testing.T) {
	for _, tt := range []struct{ message, body string }{
		{`{"records":[]}`, `{"records":[]}`},
		{"{\n  \"records\": [] }\n", `{"records":[]}`},
		{`not json "at all"`, `"not json \"at all\""`},
		{`"a string"`, `"a string"`},
		{``, `""`},
	} {
		b := Body([]byte(tt.message))
		if string(b) != tt.body {
			t.Errorf("Body(%q) = %s, want %s", tt.message, b, tt.body)
		}
		want := tt.message
		if json.Valid([]byte(tt.message)) {
			want = tt.body // JSON is compacted
		}
		if tt.message == `"a string"` {
			want = "a string" // a JSON string is a body whose message is its text
		}
		if got := string(Message(b)); got != want {
			t.Errorf("Message(Body(%q)) = %q, want %q", tt.message, got, want)
		}
	}
	if strings.ContainsAny(string(Body([]byte("a\nb"))), "\n") {
		t.Error("a body holds a newline")
	}
}
