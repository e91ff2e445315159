package workload

import (
	"math/rand/v2"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// StorageAccounts returns the universe's storage accounts, in a fixed order.
func (u *Universe) StorageAccounts() []*Resource { return u.byKind[Kinds[0]] }

// Session says what WriteSession makes.
type Session struct {
	Rounds int       // write operations per resource, one round after another; 0 means 1
	Seed   uint64    // for the correlation IDs and callers
	At     time.Time // when the first operation starts
	// Unjudged makes each operation end in failure, so that neither of its
	// records (Start, Failure) is one a rule judges.
	Unjudged bool
}

// WriteSession is the session issue 15 measured the store on: one write
// operation per resource per round, each a Start and an end record (Success,
// or Failure when s.Unjudged), in Event Hubs batches of BatchRecords records
// (message bodies of up to eight records), arriving three minutes after their
// last operation. It is deterministic for s.Seed, and holds no redeliveries:
// the same items handed over again are the duplicates.
func (u *Universe) WriteSession(rs []*Resource, s Session) []Item {
	rng := rand.New(rand.NewPCG(s.Seed, 0x5e55))
	who := principal{upn: "bench.a@contoso.com", name: "Bench User", oid: uuid(rng)}
	clock := s.At
	var records [][]byte
	for range max(1, s.Rounds) {
		for _, r := range rs {
			clock = clock.Add(50 * time.Millisecond)
			op := opInfo{id: r.ID, sub: r.Sub, rg: r.RG, operation: r.Type + "/write", start: clock,
				dur: 2 * time.Second, ok: !s.Unjudged, corr: uuid(rng), who: who, reqID: uuid(rng),
				ip: "198.51.100.7", tenant: u.Tenant}
			records = append(records, alRecord(op, true), alRecord(op, false))
		}
	}
	var items []Item
	for len(records) > 0 {
		it := Item{Source: guard.SourceEventHub, Now: clock.Add(3 * time.Minute)}
		for it.Records < BatchRecords && len(records) > 0 {
			n := min(1+rng.IntN(8), BatchRecords-it.Records, len(records))
			body := w(`{"records":[`)
			for i, rec := range records[:n] {
				if i > 0 {
					body = append(body, ',')
				}
				body = append(body, rec...)
			}
			it.Bodies = append(it.Bodies, body.raw("]}"))
			it.Records += n
			records = records[n:]
		}
		items = append(items, it)
	}
	return items
}
