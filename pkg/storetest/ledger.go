package storetest

import (
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

func testLedger(t *testing.T, open Opener) {
	t.Run("Processed after MarkProcessed, marking twice is fine", func(t *testing.T) {
		s := open(t)
		const key, other = "event:eventgrid:evt-1", "event:eventgrid:evt-2"
		wantProcessed(t, s, key, false)
		mustNil(t, "MarkProcessed", s.MarkProcessed(t.Context(), key, t0))
		wantProcessed(t, s, key, true)
		mustNil(t, "MarkProcessed again", s.MarkProcessed(t.Context(), key, t0.Add(time.Minute)))
		wantProcessed(t, s, key, true)
		wantProcessed(t, s, other, false)
	})

	t.Run("keys are exact", func(t *testing.T) {
		s := open(t)
		mustNil(t, "MarkProcessed", s.MarkProcessed(t.Context(), "event:eventhub:ABC", t0))
		for _, tc := range []struct {
			key  string
			want bool
		}{
			{"event:eventhub:ABC", true},
			{"event:eventhub:AB", false},
			{"event:eventhub:ABCD", false},
			{"event:eventgrid:ABC", false},
		} {
			wantProcessed(t, s, tc.key, tc.want)
		}
	})
}

func wantProcessed(t *testing.T, s guard.Store, key string, want bool) {
	t.Helper()
	got, err := s.Processed(t.Context(), key)
	mustNil(t, "Processed "+key, err)
	if got != want {
		t.Errorf("Processed(%q): got %v, want %v", key, got, want)
	}
}
