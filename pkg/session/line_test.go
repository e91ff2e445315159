package session

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, line, wantErr string
		want                Line
	}{
		{"eventhub", `{"source":"eventhub","enqueuedTime":"2026-11-02T09:14:02.301Z","body":{"records":[]}}`, "",
			Line{Source: "eventhub", At: time.Date(2026, 11, 2, 9, 14, 2, 301e6, time.UTC)}},
		{"eventgrid with unknown field", `{"source":"eventgrid","time":"2026-11-02T09:14:02+01:00","body":[],"x":1}`, "",
			Line{Source: "eventgrid", At: time.Date(2026, 11, 2, 8, 14, 2, 0, time.UTC)}},
		{"arm", `{"source":"arm","observedAt":"2026-11-02T09:00:00Z","body":{"id":"/subscriptions/s/x"}}`, "",
			Line{Source: "arm", At: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC), ID: "/subscriptions/s/x"}},
		{"arm deleted", `{"source":"arm","observedAt":"2026-11-02T09:00:00Z","deleted":true,"body":{"id":"/subscriptions/s/x"}}`, "",
			Line{Source: "arm", At: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC), ID: "/subscriptions/s/x", Deleted: true}},
		{"clock", `{"source":"clock","at":"2026-11-02T11:00:00Z"}`, "", Line{Source: "clock", At: time.Date(2026, 11, 2, 11, 0, 0, 0, time.UTC)}},
		{"not json", `{"source":`, "not a JSON object", Line{}},
		{"unknown source", `{"source":"kafka","at":"2026-11-02T11:00:00Z"}`, `source "kafka"`, Line{}},
		{"missing time", `{"source":"eventhub","body":{}}`, `without "enqueuedTime"`, Line{}},
		{"bad time", `{"source":"clock","at":"yesterday"}`, "not an RFC 3339 time", Line{}},
		{"no body", `{"source":"eventgrid","time":"2026-11-02T11:00:00Z"}`, "without a body", Line{}},
		{"arm without id", `{"source":"arm","observedAt":"2026-11-02T11:00:00Z","body":{"name":"x"}}`, "without an id", Line{}},
		{"arm id with ..", `{"source":"arm","observedAt":"2026-11-02T11:00:00Z","body":{"id":"/subscriptions/a/resourceGroups/rg/../../../subscriptions/b"}}`, "arm body id: resource ID refused: dot segment", Line{}},
		{"arm id escaped", `{"source":"arm","observedAt":"2026-11-02T11:00:00Z","body":{"id":"/subscriptions/a/resourceGroups/%2e%2e"}}`, "arm body id: resource ID refused: percent-escape", Line{}},
		{"arm id with a backslash", `{"source":"arm","observedAt":"2026-11-02T11:00:00Z","body":{"id":"/subscriptions/a\\b"}}`, "arm body id: resource ID refused: backslash", Line{}},
		{"arm id with a control character", `{"source":"arm","observedAt":"2026-11-02T11:00:00Z","body":{"id":"/subscriptions/a\u0007"}}`, "arm body id: resource ID refused: control character", Line{}},
		{"arm id relative", `{"source":"arm","observedAt":"2026-11-02T11:00:00Z","body":{"id":"subscriptions/a"}}`, "arm body id: resource ID refused: no leading slash", Line{}},
		{"arm id at a management group", `{"source":"arm","observedAt":"2026-11-02T09:00:00Z","body":{"id":"/providers/Microsoft.Management/managementGroups/mg/providers/Microsoft.Authorization/roleAssignments/r"}}`, "",
			Line{Source: "arm", At: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC), ID: "/providers/Microsoft.Management/managementGroups/mg/providers/Microsoft.Authorization/roleAssignments/r"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.line))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.Body = nil
			if got.Source != tt.want.Source || !got.At.Equal(tt.want.At) || got.ID != tt.want.ID || got.Deleted != tt.want.Deleted {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		`{"source":"eventhub","enqueuedTime":"2026-11-02T09:14:02.301Z","body":{"records":[]}}`,
		`{"source":"arm","observedAt":"2026-11-02T09:00:00Z","deleted":true,"body":{"id":"/subscriptions/s/x"}}`,
		`{"source":"clock","at":"2026-11-02T11:00:00Z"}`, `{}`, `null`, `[]`, `{"source":"arm","observedAt":"2026-11-02T09:00:00Z","body":[]}`,
		`{"source":"arm","observedAt":"2026-11-02T09:00:00Z","body":{"id":"/subscriptions/s/x/../../y\\z"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := Parse(b)
		if err != nil {
			return
		}
		if _, ok := timeKeys[l.Source]; !ok {
			t.Fatalf("accepted a line with source %q", l.Source)
		}
		if l.Source == SourceARM && guard.CheckResourceID(l.ID) != nil {
			t.Fatalf("accepted an arm line with the id %q", l.ID)
		}
		if l.Source != SourceClock && len(l.Body) == 0 {
			t.Fatal("accepted a line without a body")
		}
	})
}

// FuzzEncodeParse: a line Parse accepts, written again with Encode, reads back
// the same.
func FuzzEncodeParse(f *testing.F) {
	for _, s := range []string{
		`{"source":"eventhub","enqueuedTime":"2026-11-02T09:14:02.301+01:00","body":{"records":[]}}`,
		`{"source":"eventgrid","time":"2026-11-02T09:14:02Z","body":"x\u2028<"}`,
		`{"source":"arm","observedAt":"2026-11-02T09:00:00Z","body":{"id":"/subscriptions/s/x","deleted":true}}`,
		`{"source":"clock","at":"2026-11-02T11:00:00.123456789Z"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := Parse(b)
		if err != nil {
			return
		}
		var e Entry
		switch l.Source {
		case SourceEventHub:
			e = EventHub{EnqueuedTime: l.At, Body: l.Body}
		case SourceEventGrid:
			e = EventGrid{Time: l.At, Body: l.Body}
		case SourceARM:
			e = ARM{ObservedAt: l.At, Deleted: l.Deleted, Body: l.Body}
		case SourceClock:
			e = Clock{At: l.At}
		}
		out, err := Encode(e)
		if err != nil {
			t.Fatalf("Encode of a parsed line: %v", err)
		}
		if bytes.ContainsAny(out, "\r\n") {
			t.Fatalf("Encode wrote a newline: %q", out)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Encode(%q)) = %v", out, err)
		}
		if back.Source != l.Source || !back.At.Equal(l.At) || back.ID != l.ID || back.Deleted != l.Deleted || !jsonEqual(back.Body, l.Body) {
			t.Fatalf("round trip: %+v, want %+v", back, l)
		}
	})
}

func jsonEqual(a, b []byte) bool {
	var x, y bytes.Buffer
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	return json.Compact(&x, a) == nil && json.Compact(&y, b) == nil && bytes.Equal(x.Bytes(), y.Bytes())
}
