package replay

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

func TestParseLine(t *testing.T) {
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
			got, err := ParseLine([]byte(tt.line))
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

func TestARMAnswersAtTheReplayClock(t *testing.T) {
	var clock time.Time
	a := NewARM(func() time.Time { return clock })
	id := "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/a"
	at := func(h int) time.Time { return time.Date(2026, 11, 2, h, 0, 0, 0, time.UTC) }
	for _, l := range []Line{
		{Source: "arm", At: at(12), ID: id, Body: []byte(`{"id":"` + id + `","sku":{"name":"Standard_LRS"}}`)},
		{Source: "arm", At: at(10), ID: id, Body: []byte(`{"id":"` + id + `","sku":{"name":"Standard_GRS"}}`)},
		{Source: "arm", At: at(14), ID: strings.ToUpper(id), Deleted: true, Body: []byte(`{"id":"` + id + `"}`)},
	} {
		a.Observe(l)
	}
	tests := []struct {
		id      string
		clock   time.Time
		wantSKU string // "404" means not found, "?" unknown
	}{
		{id, at(9), "?"}, {id, at(10), "GRS"}, {id, at(11), "GRS"}, {id, at(12), "LRS"}, {id, at(13), "LRS"}, {id, at(14), "404"}, {id, at(15), "404"},
		// No line at all: the session does not know it, which is not "gone" (DESIGN 3.2).
		{id + "x", at(15), "?"},
	}
	for _, tt := range tests {
		clock = tt.clock
		res, err := a.ReadResource(context.Background(), strings.ToLower(tt.id))
		switch tt.wantSKU {
		case "404":
			if !errors.Is(err, guard.ErrNotFound) || errors.Is(err, guard.ErrUnknown) {
				t.Errorf("%s at %s: got %v, want 404", tt.id, clock.Format("15:04"), err)
			}
			continue
		case "?":
			if !errors.Is(err, guard.ErrUnknown) || errors.Is(err, guard.ErrNotFound) {
				t.Errorf("%s at %s: got %v, want unknown (not 404)", tt.id, clock.Format("15:04"), err)
			}
			continue
		}
		if err != nil || !strings.Contains(string(res.Body), tt.wantSKU) {
			t.Errorf("at %s: got %v (%v), want the %s line", clock.Format("15:04"), res, err, tt.wantSKU)
		}
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
		l, err := ParseLine(b)
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

func TestProgressIsReported(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 2500; i++ {
		b.WriteString(`{"source":"arm","observedAt":"2026-11-02T09:00:00Z","body":{"id":"/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/a"}}` + "\n")
	}
	var calls []int
	r := &Replayer{Pipeline: &guard.Pipeline{}, Progress: func(_ string, n int) { calls = append(calls, n) }}
	st, err := r.Run(context.Background(), "s.ndjson", strings.NewReader(b.String()))
	if err != nil || st.Lines != 2500 {
		t.Fatalf("Run = %+v, %v", st, err)
	}
	if len(calls) != 2 || calls[0] != 1000 || calls[1] != 2000 {
		t.Errorf("progress calls = %v, want [1000 2000]", calls)
	}
}

// The session's ARM refuses, as ARM's client does, an ID that could be read two
// ways: no answer (not even a 404, which would read as "deleted"), no write.
func TestARMRefusesBadIDs(t *testing.T) {
	a := NewARM(func() time.Time { return time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC) })
	const bad = "/subscriptions/a/resourceGroups/rg/../../../subscriptions/b/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x"
	ctx := context.Background()
	_, rerr := a.ReadResource(ctx, bad)
	_, perr := a.Patch(ctx, bad, []byte(`{}`))
	_, uerr := a.Put(ctx, bad, []byte(`{}`))
	derr := a.Delete(ctx, bad)
	for i, err := range []error{rerr, perr, uerr, derr} {
		if !errors.Is(err, guard.ErrBadResourceID) || !errors.Is(err, guard.ErrUnsupported) || errors.Is(err, guard.ErrNotFound) {
			t.Errorf("call %d: %v, want a refusal of the ID", i, err)
		}
	}
	if w := a.Writes(); len(w) != 0 {
		t.Errorf("writes recorded: %+v", w)
	}
}
