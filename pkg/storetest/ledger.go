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
		wantProcessed(t, s, pSA1, key, false)
		mustNil(t, "MarkProcessed", s.MarkProcessed(t.Context(), pSA1, key, t0))
		wantProcessed(t, s, pSA1, key, true)
		mustNil(t, "MarkProcessed again", s.MarkProcessed(t.Context(), pSA1, key, t0.Add(time.Minute)))
		wantProcessed(t, s, pSA1, key, true)
		wantProcessed(t, s, pSA1, other, false)
	})

	t.Run("keys are exact", func(t *testing.T) {
		s := open(t)
		mustNil(t, "MarkProcessed", s.MarkProcessed(t.Context(), pSA1, "event:eventhub:ABC", t0))
		for _, tc := range []struct {
			key  string
			want bool
		}{
			{"event:eventhub:ABC", true},
			{"event:eventhub:AB", false},
			{"event:eventhub:ABCD", false},
			{"event:eventgrid:ABC", false},
		} {
			wantProcessed(t, s, pSA1, tc.key, tc.want)
		}
	})

	// A duplicate is found in the partition of the resource the change names;
	// the same event key in another partition is another key (one event, e.g. a
	// Key Vault key's rotation, is a change of each resource it moves).
	t.Run("a key is kept in its partition", func(t *testing.T) {
		s := open(t)
		const key = "event:eventhub:evt-1"
		mustNil(t, "MarkProcessed in sa1's partition", s.MarkProcessed(t.Context(), pSA1, key, t0))
		for _, tc := range []struct {
			partition string
			want      bool
		}{
			{pSA1, true},
			{guard.PartitionOf(sa1Lower), true}, // the same partition, named from another casing
			{guard.PartitionOf(sa1Blob), true},  // a child's changes are its parent's
			{pAlpha, false},
			{pBeta, false},
			{guard.SealPartition, false},
		} {
			wantProcessed(t, s, tc.partition, key, tc.want)
		}
		mustNil(t, "MarkProcessed in alpha's partition", s.MarkProcessed(t.Context(), pAlpha, key, t0.Add(time.Minute)))
		wantProcessed(t, s, pAlpha, key, true)
		wantProcessed(t, s, pSA1, key, true)
		wantProcessed(t, s, pBeta, key, false)
	})
}

func wantProcessed(t *testing.T, s guard.Store, partition, key string, want bool) {
	t.Helper()
	got, err := s.Processed(t.Context(), partition, key)
	mustNil(t, "Processed "+key+" in "+partition, err)
	if got != want {
		t.Errorf("Processed(%q, %q): got %v, want %v", partition, key, got, want)
	}
}
