package report

import (
	"sort"
	"time"
)

// "Is the backlog shrinking" is answered by the open findings at the end of
// each step of the timeline, from the audit trail's transitions (to open, and
// from open to resolved or exempt), and by how long the findings open now
// have been open.

// backlog sets each timeline bucket's Backlog: the findings open at its end,
// replaying every transition of the trail in time order (those before Since
// too: the backlog at the start of the period is what they left).
func (p *Posture) backlog(t *trail) {
	if len(p.Timeline.Buckets) == 0 {
		return
	}
	ts := make([]transition, 0, len(t.transitions))
	for _, tr := range t.transitions {
		if tr.Kind == "open" || tr.Kind == "resolved" || tr.Kind == "exempt" {
			ts = append(ts, tr)
		}
	}
	// Each finding's transitions are in trail order already; a stable sort
	// by time keeps that order among equal times.
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].At.Before(ts[j].At) })
	open := map[string]bool{}
	n, i := 0, 0
	for b := range p.Timeline.Buckets {
		end := p.Timeline.Buckets[b].Start.Add(p.Timeline.Step)
		if end.After(p.GeneratedAt) {
			end = p.GeneratedAt.Add(time.Nanosecond) // what is known at the report's time
		}
		for ; i < len(ts) && ts[i].At.Before(end); i++ {
			was := open[ts[i].FindingID]
			now := ts[i].Kind == "open"
			open[ts[i].FindingID] = now
			switch {
			case now && !was:
				n++
			case !now && was:
				n--
			}
		}
		p.Timeline.Buckets[b].Backlog = n
	}
}

// ageBuckets are the ageing's groups: an open finding of age a is in the
// first whose Below is above a.
var ageBuckets = []struct {
	Key   string
	Below time.Duration
}{
	{"under 1 day", 24 * time.Hour},
	{"1 to 7 days", 7 * 24 * time.Hour},
	{"7 to 30 days", 30 * 24 * time.Hour},
	{"over 30 days", 1<<63 - 1},
}

// ageing counts open findings by how long since they (last) opened.
func (p *Posture) ageing() {
	p.Ageing = make([]Count, len(ageBuckets))
	for i, b := range ageBuckets {
		p.Ageing[i] = Count{Key: b.Key, Label: b.Key}
	}
	for _, r := range p.Findings {
		if r.Status != "open" {
			continue
		}
		age := p.GeneratedAt.Sub(r.OpenedAt)
		for i, b := range ageBuckets {
			if age < b.Below {
				p.Ageing[i].N++
				break
			}
		}
	}
}
