package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Seal writing: at the end of each sweep (the timer runs on one instance), the
// heads of the partitions' chains that moved since the last seal are sealed:
// one record of Kind SealKind in SealPartition, whose Data is SealData. The
// seals chain like any partition's records, so they put every sealed record of
// every partition in one global order without any appender taking a lock in
// common (DESIGN 6).

const (
	// SealMargin is how long before the last seal's time a chain's head may
	// lie and still be looked at again: a record stamped before the last seal
	// (by an instance whose clock is behind, or committed after the seal read
	// the heads) is sealed by the next one rather than missed.
	SealMargin = 10 * time.Minute
	// sealLookback is how far back the sweep first looks for the last seal;
	// when the timer has not run for longer (or never has), every chain's head
	// is read.
	sealLookback = 24 * time.Hour
)

// seal appends a seal of the heads that moved since the last seal, when any did.
func (p *Pipeline) seal(ctx context.Context, now time.Time) error {
	now = now.UTC()
	heads, from, err := p.headsSinceLastSeal(ctx, now)
	if err != nil {
		return err
	}
	if len(heads) == 0 {
		return nil
	}
	data, err := json.Marshal(NewSealData(heads))
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	rec, err := p.Store.AppendAudit(ctx, AuditRecord{Partition: SealPartition, At: now, Kind: SealKind,
		Subject: strconv.Itoa(len(heads)) + " partitions", Data: data})
	if err != nil {
		return fmt.Errorf("seal %d partitions: %w", len(heads), err)
	}
	p.log().Info("audit sealed", "seq", rec.Seq, "partitions", len(heads), "since", from)
	return nil
}

// headsSinceLastSeal returns the heads of the partitions' chains (the seal
// chain's aside) that are not in the last seal as they are now, among those
// whose last record is at most SealMargin older than the last seal (every
// chain when there is none), and the time it looked from.
func (p *Pipeline) headsSinceLastSeal(ctx context.Context, now time.Time) ([]AuditHead, time.Time, error) {
	from := now.Add(-sealLookback)
	heads, err := p.Store.AuditHeads(ctx, from)
	if err != nil {
		return nil, from, fmt.Errorf("seal: list audit heads: %w", err)
	}
	sealHead, ok := findHead(heads, SealPartition)
	if !ok {
		// No seal in the last day: read every chain's head.
		from = time.Time{}
		if heads, err = p.Store.AuditHeads(ctx, from); err != nil {
			return nil, from, fmt.Errorf("seal: list audit heads: %w", err)
		}
		sealHead, ok = findHead(heads, SealPartition)
	}
	sealed := map[string]AuditHead{}
	if ok {
		last, err := p.lastSeal(ctx, sealHead)
		if err != nil {
			return nil, from, err
		}
		for _, h := range last.data.Heads {
			sealed[h.Partition] = h
		}
		if since := last.at.Add(-SealMargin); since.Before(from) {
			from = since
			if heads, err = p.Store.AuditHeads(ctx, from); err != nil {
				return nil, from, fmt.Errorf("seal: list audit heads: %w", err)
			}
		} else {
			from = since
		}
	}
	var moved []AuditHead
	for _, h := range heads {
		if h.Partition == SealPartition || h.At.Before(from) {
			continue
		}
		if s, ok := sealed[h.Partition]; ok && s.Seq == h.Seq && s.Hash == h.Hash {
			continue
		}
		moved = append(moved, h)
	}
	return moved, from, nil
}

// sealRecord is a seal as headsSinceLastSeal reads it.
type sealRecord struct {
	at   time.Time
	data SealData
}

// lastSeal reads the seal record head names.
func (p *Pipeline) lastSeal(ctx context.Context, head AuditHead) (sealRecord, error) {
	recs, err := p.Store.ListAudit(ctx, SealPartition, head.Seq-1, 1)
	if err != nil {
		return sealRecord{}, fmt.Errorf("seal: read the last seal, %d: %w", head.Seq, err)
	}
	if len(recs) != 1 || recs[0].Seq != head.Seq {
		return sealRecord{}, fmt.Errorf("seal: read the last seal, %d: %w", head.Seq, ErrNotFound)
	}
	var d SealData
	if err := json.Unmarshal(recs[0].Data, &d); err != nil {
		return sealRecord{}, fmt.Errorf("seal: decode the last seal, %d: %w", head.Seq, err)
	}
	if recs[0].Kind != SealKind {
		return sealRecord{}, fmt.Errorf("seal: the last record of %s, %d, is a %q: %w", SealPartition, head.Seq, recs[0].Kind, errors.ErrUnsupported)
	}
	return sealRecord{at: recs[0].At, data: d}, nil
}

func findHead(heads []AuditHead, partition string) (AuditHead, bool) {
	for _, h := range heads {
		if h.Partition == partition {
			return h, true
		}
	}
	return AuditHead{}, false
}
