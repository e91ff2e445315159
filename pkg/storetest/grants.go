package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

func testGrants(t *testing.T, open Opener) {
	t.Run("round trip preserves every field", func(t *testing.T) {
		s := open(t)
		g := guard.Grant{ID: "jit-1", Kind: "jit", ResourceID: sa1, PrincipalID: "principal-1",
			Start: t0.Add(-time.Hour), End: t0,
			Details: json.RawMessage(`{"ports":[22,3389],"justification":"<incident> & more"}`)}
		putGrant(t, s, g)
		got := dueGrants(t, s, t0)
		diff(t, "DueGrants", []guard.Grant{g}, got)
		if len(got) == 1 {
			wantUTC(t, "DueGrants", got[0].Start, got[0].End)
		}
	})

	t.Run("PutGrant replaces by ID", func(t *testing.T) {
		s := open(t)
		putGrant(t, s, grant("g", t0))
		replaced := grant("g", t0.Add(2*time.Hour))
		replaced.Kind, replaced.PrincipalID = "pim", "principal-2"
		putGrant(t, s, replaced)
		diff(t, "DueGrants before the new End", []guard.Grant(nil), dueGrants(t, s, t0.Add(time.Hour)))
		diff(t, "DueGrants at the new End", []guard.Grant{replaced}, dueGrants(t, s, t0.Add(2*time.Hour)))
	})

	t.Run("DueGrants selects End at or before, sorted by End then ID", func(t *testing.T) {
		s := open(t)
		for _, g := range []guard.Grant{
			grant("d", t0.Add(time.Minute)),
			grant("b", t0),
			grant("c", t0.Add(-time.Hour)),
			grant("a", t0),
			grant("e", t0.Add(time.Microsecond)),
		} {
			putGrant(t, s, g)
		}
		for _, tc := range []struct {
			name   string
			before time.Time
			want   []string
		}{
			{"before every End", t0.Add(-2 * time.Hour), nil},
			{"at the first End", t0.Add(-time.Hour), []string{"c"}},
			{"a microsecond before the End of a and b", t0.Add(-time.Microsecond), []string{"c"}},
			{"at the End of a and b", t0, []string{"c", "a", "b"}},
			{"at the End of a and b, given in UTC", t0.UTC(), []string{"c", "a", "b"}},
			{"a microsecond later", t0.Add(time.Microsecond), []string{"c", "a", "b", "e"}},
			{"after every End", t0.Add(time.Hour), []string{"c", "a", "b", "e", "d"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				diff(t, "DueGrants IDs", tc.want, grantIDs(dueGrants(t, s, tc.before)))
			})
		}
	})

	t.Run("DeleteGrant removes, absent is not an error", func(t *testing.T) {
		s := open(t)
		putGrant(t, s, grant("a", t0))
		putGrant(t, s, grant("b", t0))
		mustNil(t, "DeleteGrant a", s.DeleteGrant(t.Context(), "a"))
		diff(t, "DueGrants IDs after DeleteGrant", []string{"b"}, grantIDs(dueGrants(t, s, t0)))
		mustNil(t, "DeleteGrant a again", s.DeleteGrant(t.Context(), "a"))
		mustNil(t, "DeleteGrant of one never stored", s.DeleteGrant(t.Context(), "no-such-grant"))
		diff(t, "DueGrants IDs", []string{"b"}, grantIDs(dueGrants(t, s, t0)))
	})
}

func grant(id string, end time.Time) guard.Grant {
	return guard.Grant{ID: id, Kind: "jit", ResourceID: sa1, PrincipalID: "principal-1",
		Start: end.Add(-time.Hour), End: end, Details: json.RawMessage(`{"id":"` + id + `"}`)}
}

func putGrant(t *testing.T, s guard.Store, g guard.Grant) {
	t.Helper()
	mustNil(t, "PutGrant "+g.ID, s.PutGrant(t.Context(), g))
}

func dueGrants(t *testing.T, s guard.Store, before time.Time) []guard.Grant {
	t.Helper()
	gs, err := s.DueGrants(t.Context(), before)
	mustNil(t, "DueGrants", err)
	return gs
}

func grantIDs(gs []guard.Grant) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.ID)
	}
	return out
}
