package cosmos

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"
)

// Container names.
const (
	cFindings  = "findings"
	cResources = "resources"
	cLedger    = "ledger"
	cGrants    = "grants"
	cOutbox    = "outbox"
	cAudit     = "audit"
	cPoison    = "poison"
)

// containerSpec is a container as this store needs it.
type containerSpec struct {
	name         string
	partitionKey string // the one partition key path
	ledger       bool   // gets the ledger TTL
}

// containerSpecs are the store's containers; the package documentation says why
// each is partitioned as it is.
var containerSpecs = []containerSpec{
	{name: cFindings, partitionKey: "/id"},
	{name: cResources, partitionKey: "/id"},
	{name: cLedger, partitionKey: "/id", ledger: true},
	{name: cGrants, partitionKey: "/id"},
	{name: cOutbox, partitionKey: "/id"},
	{name: cAudit, partitionKey: "/bucket"},
	{name: cPoison, partitionKey: "/id"},
}

// setup creates (with EnsureContainers) or checks the database and containers.
func (s *Store) setup(ctx context.Context, o Options) error {
	if o.EnsureContainers {
		_, err := s.client.CreateDatabase(ctx, azcosmos.DatabaseProperties{ID: s.database}, nil)
		if err != nil && !isStatus(err, http.StatusConflict) {
			return fmt.Errorf("create database: %w", err)
		}
	}
	db, err := s.client.NewDatabase(s.database)
	if err != nil {
		return err
	}
	for _, spec := range containerSpecs {
		c, err := db.NewContainer(spec.name)
		if err != nil {
			return err
		}
		if err := ensureContainer(ctx, db, c, spec, o); err != nil {
			return fmt.Errorf("container %s: %w", spec.name, err)
		}
		s.containers[spec.name] = c
	}
	return nil
}

// ensureContainer checks that a container exists with the expected partition
// key, creating it first when it is missing and o.EnsureContainers is set.
func ensureContainer(ctx context.Context, db *azcosmos.DatabaseClient, c *azcosmos.ContainerClient, spec containerSpec, o Options) error {
	resp, err := c.Read(ctx, nil)
	if isStatus(err, http.StatusNotFound) {
		if !o.EnsureContainers {
			return fmt.Errorf("missing: create it (partition key %s) and its database with the infrastructure, or open with EnsureContainers (ensureContainers=true in the store URL)", spec.partitionKey)
		}
		_, err = db.CreateContainer(ctx, containerProperties(spec, o.LedgerTTL), nil)
		if err != nil && !isStatus(err, http.StatusConflict) {
			return fmt.Errorf("create: %w", err)
		}
		resp, err = c.Read(ctx, nil)
	}
	if err != nil {
		return fmt.Errorf("read properties: %w", err)
	}
	if p := resp.ContainerProperties; p == nil || !slices.Equal(p.PartitionKeyDefinition.Paths, []string{spec.partitionKey}) {
		var got []string
		if p != nil {
			got = p.PartitionKeyDefinition.Paths
		}
		return fmt.Errorf("partition key %v, want [%s]: its documents would not be found", got, spec.partitionKey)
	}
	return nil
}

// containerProperties are those of a container this store creates.
func containerProperties(spec containerSpec, ledgerTTL time.Duration) azcosmos.ContainerProperties {
	p := azcosmos.ContainerProperties{
		ID:                     spec.name,
		PartitionKeyDefinition: azcosmos.PartitionKeyDefinition{Paths: []string{spec.partitionKey}},
	}
	if spec.ledger {
		if ledgerTTL == 0 {
			ledgerTTL = DefaultLedgerTTL
		}
		if ledgerTTL > 0 {
			secs := int32(min(max(ledgerTTL/time.Second, 1), 1<<31-1))
			p.DefaultTimeToLive = &secs
		}
	}
	return p
}

// container returns the client of a container setup has checked.
func (s *Store) container(name string) *azcosmos.ContainerClient { return s.containers[name] }
