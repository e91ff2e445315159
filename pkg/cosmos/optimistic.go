package cosmos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"

	"github.com/exportguard/exportguard/pkg/guard"
)

// change is an optimistic read-modify-write of one document: it reads the
// document and its ETag, calls fn with the body (nil when absent) and a fresh
// write ID, and writes what fn returns, replacing on the ETag read (If-Match) or
// creating when there was none. When another writer got there first (412 on
// the replace, 409 on the create) it reads again and calls fn again, up to
// s.attempts times with jittered backoff, and then gives up with an error
// wrapping guard.ErrConflict. When fn returns nil, nothing is written.
//
// fn must put the write ID in the document's writeId. It tells an answer lost
// in transit from a lost race: a write that reached the server but whose answer
// was lost (a 503, a dropped connection) is sent again (see retryTransient),
// and the second try fails with 412 or 409 against the first; when the document
// then read carries the previous attempt's write ID, that write is the one
// stored and change returns, without calling fn again.
func (s *Store) change(ctx context.Context, c *azcosmos.ContainerClient, pk azcosmos.PartitionKey, id string,
	fn func(cur []byte, writeID string) (next []byte, err error)) error {
	var lastWrite string
	for attempt := 1; ; attempt++ {
		cur, etag, err := readItem(ctx, c, pk, id)
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if lastWrite != "" && cur != nil && writeIDOf(cur) == lastWrite {
			return nil
		}
		writeID := newWriteID()
		next, err := fn(cur, writeID)
		if err != nil || next == nil {
			return err
		}
		err = writeItem(ctx, c, pk, id, next, etag)
		if err == nil {
			return nil
		}
		if !lostRace(err) {
			return fmt.Errorf("write: %w", err)
		}
		if attempt >= s.attempts {
			return fmt.Errorf("%w: other writers won %d times in a row: %w", guard.ErrConflict, attempt, err)
		}
		lastWrite = writeID
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

// writeIDOf returns the writeId of a document, or "".
func writeIDOf(doc []byte) string {
	var d struct {
		WriteID string `json:"writeId"`
	}
	if json.Unmarshal(doc, &d) != nil {
		return ""
	}
	return d.WriteID
}

// newWriteID returns 128 random bits in hex.
func newWriteID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// backoff waits before attempt+1 of a write that lost a race: a random time
// below min(4 ms × 2^attempt, 250 ms), so that the writers racing spread out.
func backoff(ctx context.Context, attempt int) error {
	ceiling := min(4*time.Millisecond<<min(attempt, 16), 250*time.Millisecond)
	t := time.NewTimer(mrand.N(ceiling) + time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
