package replay

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/session"
)

func TestARMAnswersAtTheReplayClock(t *testing.T) {
	var clock time.Time
	a := NewARM(func() time.Time { return clock })
	id := "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/a"
	at := func(h int) time.Time { return time.Date(2026, 11, 2, h, 0, 0, 0, time.UTC) }
	for _, l := range []session.Line{
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
	// After every line: the command line decides by time when to show it.
	if len(calls) != 2500 || calls[0] != 1 || calls[2499] != 2500 {
		t.Errorf("progress calls = %d (first %v), want 2500, 1 to 2500", len(calls), calls[:min(len(calls), 3)])
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
