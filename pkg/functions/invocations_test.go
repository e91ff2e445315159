package functions

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/exportguard/exportguard/pkg/guard"
)

// The encoder and the decoder mirror each other: what EventHubInvocation
// builds, the handler's decoding gives back as the very message bodies.
func TestEventHubInvocationRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 2, 9, 14, 2, 301e6, time.UTC)
	tests := []struct {
		name   string
		bodies []string
	}{
		{"one body", []string{`{"records":[{"time":"2026-11-02T09:12:21Z"}]}`}},
		{"a batch", []string{`{"records":[]}`, "{\n  \"records\": [ ]\n}", `{"records":[{"x":"<&>\u2028é"}]}`}},
		{"text that is not JSON", []string{`not json at all`, `[1,`}},
		{"an empty batch", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs := make([]EventHubMessage, len(tt.bodies))
			for i, b := range tt.bodies {
				msgs[i] = EventHubMessage{Body: []byte(b), EnqueuedTime: at, SequenceNumber: int64(i + 7)}
			}
			got := decodeEventHubInvocation(t, EventHubInvocation(msgs, "s.ndjson", at))
			if len(got) != len(tt.bodies) {
				t.Fatalf("decoded %d bodies, want %d", len(got), len(tt.bodies))
			}
			for i := range got {
				if string(got[i]) != tt.bodies[i] {
					t.Errorf("body %d = %q, want %q", i, got[i], tt.bodies[i])
				}
			}
		})
	}
}

func decodeEventHubInvocation(t testing.TB, body []byte) [][]byte {
	t.Helper()
	inv, err := decodeInvocation(body)
	if err != nil {
		t.Fatalf("decodeInvocation: %v", err)
	}
	raw, ok := inv.data(bindEvents)
	if !ok {
		t.Fatalf("no Data.events in %s", body)
	}
	bodies, over, _, err := messageBodies(raw)
	if err != nil || len(over) > 0 {
		t.Fatalf("messageBodies: %v, %d oversized", err, len(over))
	}
	return bodies
}

// FuzzEventHubInvocation: any message body that is text (the host delivers
// dataType string) comes back as it went, except one that is itself a JSON
// string literal, which the decoder unquotes on purpose (a payload the host
// encoded once more, envelope.go's maxUnwrap).
func FuzzEventHubInvocation(f *testing.F) {
	for _, s := range []string{`{"records":[]}`, `not json`, ``, "\x00\u2028", `[1,2]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) || len(b) > MaxMessageBytes || bytes.HasPrefix(bytes.TrimSpace(b), []byte(`"`)) {
			t.Skip()
		}
		got := decodeEventHubInvocation(t, EventHubInvocation([]EventHubMessage{{Body: b}}, "h", time.Time{}))
		if len(got) != 1 || !bytes.Equal(got[0], b) {
			t.Fatalf("decoded %q, want [%q]", got, b)
		}
	})
}

func TestEventGridInvocationRoundTrip(t *testing.T) {
	for _, ev := range []string{
		`{"id":"1","eventType":"Microsoft.Resources.ResourceWriteSuccess","data":{"operationName":"<x>"}}`,
		`[{"id":"1"},{"id":"2"}]`,
	} {
		inv, err := decodeInvocation(EventGridInvocation([]byte(ev), time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := inv.data(bindEvent)
		got, ok := eventJSON(raw)
		if !ok || !jsonEqual(t, got, []byte(ev)) {
			t.Errorf("decoded %s (%v), want %s", got, ok, ev)
		}
	}
	// Not JSON: sent as a string, handed on as the text for the pipeline to keep.
	inv, _ := decodeInvocation(EventGridInvocation([]byte("not an event"), time.Now()))
	raw, _ := inv.data(bindEvent)
	if got, ok := eventJSON(raw); ok || string(got) != "not an event" {
		t.Errorf("decoded %q (%v), want the text, not JSON", got, ok)
	}
}

func TestTimerInvocation(t *testing.T) {
	last, next := time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC), time.Date(2026, 11, 2, 9, 35, 0, 0, time.UTC)
	inv, err := decodeInvocation(TimerInvocation(last, next, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := inv.data(bindTimer)
	var ti struct {
		ScheduleStatus struct{ Last, Next string }
		IsPastDue      *bool
	}
	if !ok || json.Unmarshal(raw, &ti) != nil || ti.IsPastDue == nil || *ti.IsPastDue || parseTimer(raw).IsPastDue ||
		ti.ScheduleStatus.Last != "2026-11-02T09:30:00Z" || ti.ScheduleStatus.Next != "2026-11-02T09:35:00Z" {
		t.Errorf("Data.timer = %s", raw)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && mustJSON(x) == mustJSON(y)
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// The answer carries the pipeline's summary for a caller that is not the host,
// through every function that ingests, with the bodies the encoder builds.
func TestAnswerSummary(t *testing.T) {
	sum := guard.Summary{Changes: 3, Duplicates: 1, Skipped: 2, Rejected: 4, Ignored: 5, Verdicts: 6, Transitions: 7}
	want := InvocationSummary{Changes: 3, Duplicates: 1, Skipped: 2, Rejected: 4, Ignored: 5, Verdicts: 6, Transitions: 7}
	now := time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)
	for _, tt := range []struct {
		name string
		ing  Ingester
		path string
		body []byte
	}{
		{"activitylog, one body at a time", &fakeIngester{summary: sum}, "/" + FunctionActivityLog,
			EventHubInvocation([]EventHubMessage{{Body: []byte(`{"records":[]}`)}}, "h", now)},
		{"activitylog, a batch", &batchIngester{fakeIngester: fakeIngester{summary: sum}}, "/" + FunctionActivityLog,
			EventHubInvocation([]EventHubMessage{{Body: []byte(`{"records":[]}`)}}, "h", now)},
		{"resourceevents", &fakeIngester{summary: sum}, "/" + FunctionResourceEvents, EventGridInvocation([]byte(`{"id":"1"}`), now)},
		{"sweep", &fakeIngester{summary: sum}, "/" + FunctionSweep, TimerInvocation(now, now.Add(5*time.Minute), now)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := newTestHandler(t, tt.ing, nil)
			a := checkAnswer(t, do(h, hostRequest("POST", tt.path, tt.body)))
			if a.Summary == nil || *a.Summary != want {
				t.Errorf("Summary = %+v, want %+v", a.Summary, want)
			}
		})
	}
}

// The bodies the encoder builds are the host's (research note §2).
func TestInvocationShapes(t *testing.T) {
	now := time.Date(2026, 11, 20, 14, 5, 45, 0, time.UTC)
	body := []byte(`{"records":[{"time":"2026-11-02T09:12:21Z"}]}`)
	var inv struct {
		Data     map[string]json.RawMessage
		Metadata map[string]json.RawMessage
	}
	if err := json.Unmarshal(EventHubInvocation([]EventHubMessage{{Body: body, EnqueuedTime: time.Date(2026, 11, 2, 9, 14, 2, 301e6, time.UTC), SequenceNumber: 7}}, "s.ndjson", now), &inv); err != nil {
		t.Fatal(err)
	}
	// Data.events: a JSON string whose text is a JSON array of the bodies as strings.
	var text string
	if err := json.Unmarshal(inv.Data["events"], &text); err != nil {
		t.Fatalf("Data.events %s is not a JSON string", inv.Data["events"])
	}
	var bodies []string
	if err := json.Unmarshal([]byte(text), &bodies); err != nil || len(bodies) != 1 || bodies[0] != string(body) {
		t.Errorf("Data.events text %s, want [\"<body>\"]", text)
	}
	for k, want := range map[string]string{
		"SequenceNumberArray": "[7]", "EnqueuedTimeUtcArray": `["2026-11-02T09:14:02.301"]`, "PartitionKeyArray": "[null]",
	} {
		var s string
		if json.Unmarshal(inv.Metadata[k], &s) != nil || s != want {
			t.Errorf("Metadata.%s = %s, want the string %s", k, inv.Metadata[k], want)
		}
	}
	if !bytes.HasPrefix(bytes.TrimSpace(inv.Metadata["PartitionContext"]), []byte("{")) {
		t.Errorf("PartitionContext %s, want an object", inv.Metadata["PartitionContext"])
	}

	ev := json.RawMessage(`{"id":"1","eventType":"Microsoft.Resources.ResourceWriteSuccess","data":{"operationName":"x"}}`)
	if err := json.Unmarshal(EventGridInvocation(ev, now), &inv); err != nil {
		t.Fatal(err)
	}
	if string(inv.Data["event"]) != string(ev) || string(inv.Metadata["data"]) != `{"operationName":"x"}` {
		t.Errorf("Data.event %s, Metadata.data %s: want the event object and its data", inv.Data["event"], inv.Metadata["data"])
	}

	if err := json.Unmarshal(TimerInvocation(time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC), time.Date(2026, 11, 2, 9, 35, 0, 0, time.UTC), now), &inv); err != nil {
		t.Fatal(err)
	}
	var timer struct {
		Schedule       struct{ AdjustForDST bool }
		ScheduleStatus struct{ Last, Next, LastUpdated string }
		IsPastDue      *bool
	}
	if err := json.Unmarshal(inv.Data["timer"], &timer); err != nil || timer.IsPastDue == nil || *timer.IsPastDue ||
		timer.ScheduleStatus.Last != "2026-11-02T09:30:00Z" || timer.ScheduleStatus.Next != "2026-11-02T09:35:00Z" {
		t.Errorf("Data.timer = %s (%v), want a TimerInfo object, next tick 09:35", inv.Data["timer"], err)
	}
	var sys struct{ MethodName, UtcNow, RandGuid string }
	if err := json.Unmarshal(inv.Metadata["sys"], &sys); err != nil || sys.MethodName != "sweep" || sys.UtcNow != "2026-11-20T14:05:45Z" || len(sys.RandGuid) != 36 {
		t.Errorf("Metadata.sys = %s", inv.Metadata["sys"])
	}
}
