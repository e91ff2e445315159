package cosmos

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"
)

// readyPK is the partition key of the document Ready writes in the partitions
// container: no partition has it (a resource's starts with "/", the seals'
// is guard.SealPartition, and a hashed one is "~" and 64 hex digits), and its
// document is not a head, so no listing sees it.
const readyPK = "~readiness"

// readyDoc is what Ready writes: a fresh nonce each time, so that reading it
// back proves this write landed.
type readyDoc struct {
	ID    string    `json:"id"`
	PK    string    `json:"pk"`
	Kind  string    `json:"kind"`
	At    time.Time `json:"at"`
	Nonce string    `json:"nonce"`
}

// Ready reports whether the store can take writes now: it upserts one small
// document in the partitions container and reads it back, two point
// operations (about 10 and 1 RU). An identity that may only read (Cosmos DB
// Built-in Data Reader), a container gone, an account refusing writes or
// throttling past the retries all fail it, where a read alone would pass. The
// document is overwritten each time.
func (s *Store) Ready(ctx context.Context) error {
	c := s.container(cPartitions)
	pk := azcosmos.NewPartitionKeyString(readyPK)
	want := readyDoc{ID: "ready", PK: readyPK, Kind: "ready", At: time.Now().UTC(), Nonce: rand.Text()}
	b, err := json.Marshal(want)
	if err != nil {
		return fmt.Errorf("cosmos: readiness: %w", err)
	}
	if err := upsertItem(ctx, c, pk, b); err != nil {
		return fmt.Errorf("cosmos: readiness: write to the %s container: %w", cPartitions, err)
	}
	raw, _, err := readItem(ctx, c, pk, want.ID)
	if err != nil {
		return fmt.Errorf("cosmos: readiness: read back from the %s container: %w", cPartitions, err)
	}
	var got readyDoc
	if raw == nil || json.Unmarshal(raw, &got) != nil || got.Nonce != want.Nonce {
		return fmt.Errorf("cosmos: readiness: the document written to the %s container did not read back", cPartitions)
	}
	return nil
}
