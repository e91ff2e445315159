package cosmos

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"
)

// readyID is the ledger document Ready writes. No event key has it as its
// document ID: "~" begins only the IDs of hashed keys, followed by 64 hex
// digits (docID).
const readyID = "~readiness"

// readyDoc is what Ready writes: a fresh nonce each time, so that reading it
// back proves this write landed.
type readyDoc struct {
	ID    string    `json:"id"`
	At    time.Time `json:"at"`
	Nonce string    `json:"nonce"`
}

// Ready reports whether the store can take writes now: it upserts one small
// document in the ledger container and reads it back, two point operations
// (about 10 and 1 RU). An identity that may only read (Cosmos DB Built-in Data
// Reader), a container gone, an account refusing writes or throttling past the
// retries all fail it, where a read alone would pass. The document is
// overwritten each time; the ledger's TTL removes it once Ready stops.
func (s *Store) Ready(ctx context.Context) error {
	c := s.container(cLedger)
	want := readyDoc{ID: readyID, At: time.Now().UTC(), Nonce: rand.Text()}
	b, err := json.Marshal(want)
	if err != nil {
		return fmt.Errorf("cosmos: readiness: %w", err)
	}
	if err := upsertItem(ctx, c, pkOf(readyID), b); err != nil {
		return fmt.Errorf("cosmos: readiness: write to the %s container: %w", cLedger, err)
	}
	raw, _, err := readItem(ctx, c, pkOf(readyID), readyID)
	if err != nil {
		return fmt.Errorf("cosmos: readiness: read back from the %s container: %w", cLedger, err)
	}
	var got readyDoc
	if raw == nil || json.Unmarshal(raw, &got) != nil || got.Nonce != want.Nonce {
		return fmt.Errorf("cosmos: readiness: the document written to the %s container did not read back", cLedger)
	}
	return nil
}
