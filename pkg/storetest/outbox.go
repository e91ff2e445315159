package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

func testOutbox(t *testing.T, open Opener) {
	t.Run("round trip preserves every field", func(t *testing.T) {
		s := open(t)
		it := guard.OutboxItem{ID: "notify-1", Partition: pSA1, Kind: "notify.teams",
			Payload:   json.RawMessage(`{"text":"<b>finding</b> & co","findingId":"f-1","n":[1,2.5]}`),
			CreatedAt: t0.Add(-time.Minute), NextAttempt: t0}
		enqueue(t, s, it)
		got := dueItems(t, s, t0, 10)
		diff(t, "DueItems", []guard.OutboxItem{it}, got)
		if len(got) == 1 {
			wantUTC(t, "DueItems", got[0].CreatedAt, got[0].NextAttempt)
		}
	})

	t.Run("Enqueue of an ID already there keeps the first", func(t *testing.T) {
		s := open(t)
		first := item("x", t0)
		enqueue(t, s, first)
		second := item("x", t0.Add(-time.Hour))
		second.Kind, second.Payload = "remediate", json.RawMessage(`{"second":true}`)
		enqueue(t, s, second)
		diff(t, "DueItems", []guard.OutboxItem{first}, dueItems(t, s, t0.Add(time.Hour), 10))
	})

	t.Run("DueItems selects NextAttempt at or before now, oldest first, up to limit", func(t *testing.T) {
		s := open(t)
		for _, it := range []guard.OutboxItem{
			item("b", t0.Add(time.Minute)),
			item("d", t0.Add(time.Hour)),
			item("c", t0),
			item("a", t0.Add(-time.Minute)),
		} {
			enqueue(t, s, it)
		}
		for _, tc := range []struct {
			name  string
			now   time.Time
			limit int
			want  []string
		}{
			{"before every NextAttempt", t0.Add(-time.Hour), 10, nil},
			{"at the NextAttempt of c", t0, 10, []string{"a", "c"}},
			{"at the NextAttempt of c, given in UTC", t0.UTC(), 10, []string{"a", "c"}},
			{"a microsecond before c's", t0.Add(-time.Microsecond), 10, []string{"a"}},
			{"all due", t0.Add(time.Hour), 10, []string{"a", "c", "b", "d"}},
			{"all due, limit 4", t0.Add(time.Hour), 4, []string{"a", "c", "b", "d"}},
			{"all due, limit 2", t0.Add(time.Hour), 2, []string{"a", "c"}},
			{"all due, limit 1", t0.Add(time.Hour), 1, []string{"a"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				diff(t, "DueItems IDs", tc.want, itemIDs(dueItems(t, s, tc.now, tc.limit)))
			})
		}
	})

	t.Run("Retry records the attempt", func(t *testing.T) {
		s := open(t)
		it := item("x", t0)
		enqueue(t, s, it)

		mustNil(t, "Retry", s.Retry(t.Context(), pSA1, "x", t0.Add(5*time.Minute), "timeout"))
		diff(t, "DueItems IDs before the next attempt", []string(nil),
			itemIDs(dueItems(t, s, t0.Add(5*time.Minute-time.Microsecond), 10)))
		want := it
		want.NextAttempt, want.Attempts, want.LastError = t0.Add(5*time.Minute), 1, "timeout"
		diff(t, "DueItems at the next attempt", []guard.OutboxItem{want}, dueItems(t, s, t0.Add(5*time.Minute), 10))

		mustNil(t, "Retry again", s.Retry(t.Context(), pSA1, "x", t0.Add(20*time.Minute), "503 Service Unavailable"))
		want.NextAttempt, want.Attempts, want.LastError = t0.Add(20*time.Minute), 2, "503 Service Unavailable"
		diff(t, "DueItems after the second retry", []guard.OutboxItem{want}, dueItems(t, s, t0.Add(time.Hour), 10))
	})

	t.Run("Retry moves an item in the order", func(t *testing.T) {
		s := open(t)
		enqueue(t, s, item("a", t0))
		enqueue(t, s, item("b", t0.Add(time.Minute)))
		mustNil(t, "Retry a", s.Retry(t.Context(), pSA1, "a", t0.Add(2*time.Minute), "failed"))
		diff(t, "DueItems IDs", []string{"b", "a"}, itemIDs(dueItems(t, s, t0.Add(time.Hour), 10)))
	})

	t.Run("Retry of an absent item is ErrNotFound", func(t *testing.T) {
		s := open(t)
		wantNotFound(t, "Retry", s.Retry(t.Context(), pSA1, "no-such-item", t0, "failed"))
	})

	t.Run("Complete removes", func(t *testing.T) {
		s := open(t)
		enqueue(t, s, item("a", t0))
		enqueue(t, s, item("b", t0))
		mustNil(t, "Complete a", s.Complete(t.Context(), pSA1, "a"))
		diff(t, "DueItems IDs after Complete", []string{"b"}, itemIDs(dueItems(t, s, t0.Add(time.Hour), 10)))
		wantNotFound(t, "Retry of a completed item", s.Retry(t.Context(), pSA1, "a", t0, "failed"))
	})

	t.Run("Fail keeps the item with its reason and it is never due again", func(t *testing.T) {
		s := open(t)
		a, b := item("a", t0), item("b", t0)
		a.CreatedAt, b.CreatedAt = t0.Add(-2*time.Minute), t0.Add(-time.Minute)
		enqueue(t, s, b)
		enqueue(t, s, a)
		mustNil(t, "Retry a", s.Retry(t.Context(), pSA1, "a", t0, "500 Internal Server Error"))
		mustNil(t, "Fail a", s.Fail(t.Context(), pSA1, "a", "500 Internal Server Error, 6 attempts"))
		diff(t, "DueItems IDs far in the future", []string{"b"}, itemIDs(dueItems(t, s, t0.AddDate(100, 0, 0), 10)))
		all, err := s.ListOutbox(t.Context())
		mustNil(t, "ListOutbox", err)
		wantA := a
		wantA.Attempts, wantA.LastError, wantA.Failed = 2, "500 Internal Server Error, 6 attempts", true
		if len(all) == 2 {
			all[0].NextAttempt = wantA.NextAttempt // a failed item's next attempt is the store's business
		}
		diff(t, "ListOutbox (oldest CreatedAt first)", []guard.OutboxItem{wantA, b}, all)
		wantNotFound(t, "Fail of an absent item", s.Fail(t.Context(), pSA1, "no-such-item", "x"))
	})

	t.Run("DueItems and ListOutbox span partitions", func(t *testing.T) {
		s := open(t)
		items := []guard.OutboxItem{
			itemIn(pBeta, "b", t0.Add(time.Minute)),
			itemIn(pSA1, "d", t0.Add(time.Hour)),
			itemIn(pAlpha, "c", t0),
			itemIn(pSA1, "a", t0.Add(-time.Minute)),
			itemIn(pGamma, "e", t0.Add(2*time.Hour)),
		}
		for i, it := range items {
			it.CreatedAt = t0.Add(time.Duration(i-10) * time.Minute)
			items[i] = it
			enqueue(t, s, it)
		}
		byID := map[string]guard.OutboxItem{}
		for _, it := range items {
			byID[it.ID] = it
		}
		pick := func(ids ...string) []guard.OutboxItem {
			var out []guard.OutboxItem
			for _, id := range ids {
				out = append(out, byID[id])
			}
			return out
		}
		diff(t, "DueItems at the NextAttempt of c", pick("a", "c"), dueItems(t, s, t0, 10))
		diff(t, "DueItems within the hour", pick("a", "c", "b", "d"), dueItems(t, s, t0.Add(time.Hour), 10))
		diff(t, "DueItems within the hour, limit 3", pick("a", "c", "b"), dueItems(t, s, t0.Add(time.Hour), 3))
		all, err := s.ListOutbox(t.Context())
		mustNil(t, "ListOutbox", err)
		diff(t, "ListOutbox (oldest CreatedAt first)", pick("b", "d", "c", "a", "e"), all)
	})

	// Complete, Retry and Fail name the partition the item is kept in, as
	// OutboxItem.Partition says: in another partition there is no such item.
	t.Run("Complete, Retry and Fail act in the item's partition", func(t *testing.T) {
		s := open(t)
		it := itemIn(pBeta, "x", t0)
		enqueue(t, s, it)
		mustNil(t, "Complete in another partition", s.Complete(t.Context(), pSA1, "x"))
		wantNotFound(t, "Retry in another partition", s.Retry(t.Context(), pSA1, "x", t0.Add(time.Hour), "wrong partition"))
		wantNotFound(t, "Fail in another partition", s.Fail(t.Context(), pSA1, "x", "wrong partition"))
		diff(t, "DueItems after calls in another partition", []guard.OutboxItem{it}, dueItems(t, s, t0, 10))

		mustNil(t, "Retry", s.Retry(t.Context(), pBeta, "x", t0.Add(time.Minute), "timeout"))
		want := it
		want.NextAttempt, want.Attempts, want.LastError = t0.Add(time.Minute), 1, "timeout"
		diff(t, "DueItems after Retry in its partition", []guard.OutboxItem{want}, dueItems(t, s, t0.Add(time.Hour), 10))
		mustNil(t, "Fail", s.Fail(t.Context(), pBeta, "x", "gone"))
		diff(t, "DueItems after Fail in its partition", []guard.OutboxItem(nil), dueItems(t, s, t0.AddDate(100, 0, 0), 10))
		all, err := s.ListOutbox(t.Context())
		mustNil(t, "ListOutbox", err)
		if len(all) != 1 || !all[0].Failed || all[0].LastError != "gone" || all[0].Partition != pBeta {
			t.Errorf("ListOutbox after Fail in its partition: %+v, want x failed, in %s", all, pBeta)
		}

		y := itemIn(pBeta, "y", t0)
		enqueue(t, s, y)
		mustNil(t, "Complete", s.Complete(t.Context(), pBeta, "y"))
		diff(t, "DueItems after Complete in its partition", []guard.OutboxItem(nil), dueItems(t, s, t0, 10))
	})

	t.Run("Enqueue of an ID already in the partition keeps the first, whatever its state", func(t *testing.T) {
		s := open(t)
		first := itemIn(pBeta, "x", t0)
		enqueue(t, s, first)
		mustNil(t, "Retry", s.Retry(t.Context(), pBeta, "x", t0.Add(time.Minute), "timeout"))
		again := itemIn(pBeta, "x", t0.Add(-time.Hour))
		again.Payload = json.RawMessage(`{"again":true}`)
		enqueue(t, s, again) // a change handled again after its items were enqueued and tried
		want := first
		want.NextAttempt, want.Attempts, want.LastError = t0.Add(time.Minute), 1, "timeout"
		all, err := s.ListOutbox(t.Context())
		mustNil(t, "ListOutbox", err)
		diff(t, "ListOutbox", []guard.OutboxItem{want}, all)
	})
}

// item returns an outbox item of sa1's partition.
func item(id string, next time.Time) guard.OutboxItem { return itemIn(pSA1, id, next) }

func itemIn(partition, id string, next time.Time) guard.OutboxItem {
	return guard.OutboxItem{ID: id, Partition: partition, Kind: "notify.teams", Payload: json.RawMessage(`{"id":"` + id + `"}`),
		CreatedAt: t0.Add(-time.Hour), NextAttempt: next}
}

func enqueue(t *testing.T, s guard.Store, it guard.OutboxItem) {
	t.Helper()
	mustNil(t, "Enqueue "+it.ID, s.Enqueue(t.Context(), it))
}

func dueItems(t *testing.T, s guard.Store, now time.Time, limit int) []guard.OutboxItem {
	t.Helper()
	its, err := s.DueItems(t.Context(), now, limit)
	mustNil(t, "DueItems", err)
	if len(its) > limit {
		t.Errorf("DueItems(limit %d): got %d items, want at most %d", limit, len(its), limit)
	}
	return its
}

func itemIDs(its []guard.OutboxItem) []string {
	var out []string
	for _, it := range its {
		out = append(out, it.ID)
	}
	return out
}
