package storetest

import (
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

func testPoison(t *testing.T, open Opener) {
	t.Run("PutPoison of an ID already there keeps the first", func(t *testing.T) {
		s := open(t)
		first := poison("p-1", t0)
		putPoison(t, s, first)
		second := poison("p-1", t0.Add(-time.Hour))
		second.Reason, second.Body = "another reason", "another body"
		putPoison(t, s, second)
		got := listPoison(t, s)
		diff(t, "ListPoison", []guard.PoisonRecord{first}, got)
		if len(got) == 1 {
			wantUTC(t, "ListPoison", got[0].At)
		}
	})

	t.Run("ListPoison is oldest first", func(t *testing.T) {
		s := open(t)
		if got := listPoison(t, s); len(got) != 0 {
			t.Errorf("ListPoison of an empty store: got %d records, want 0", len(got))
		}
		b, c, a := poison("b", t0.Add(time.Minute)), poison("c", t0.Add(2*time.Minute)), poison("a", t0)
		for _, p := range []guard.PoisonRecord{b, c, a} {
			putPoison(t, s, p)
		}
		diff(t, "ListPoison", []guard.PoisonRecord{a, b, c}, listPoison(t, s))
	})
}

func poison(id string, at time.Time) guard.PoisonRecord {
	return guard.PoisonRecord{ID: id, Source: "eventgrid", Reason: "decode: unexpected end of JSON input",
		Body: `{"id":"` + id + `", "data": <not json> & more`, At: at}
}

func putPoison(t *testing.T, s guard.Store, p guard.PoisonRecord) {
	t.Helper()
	mustNil(t, "PutPoison "+p.ID, s.PutPoison(t.Context(), p))
}

func listPoison(t *testing.T, s guard.Store) []guard.PoisonRecord {
	t.Helper()
	ps, err := s.ListPoison(t.Context())
	mustNil(t, "ListPoison", err)
	return ps
}
