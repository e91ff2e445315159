package cosmos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"
)

// Container names.
const (
	cPartitions = "partitions"
	cGrants     = "grants"
	cPoison     = "poison"
)

// legacyContainers are the containers of the layout before partitions
// (besides grants and poison, which both layouts have).
var legacyContainers = []string{"findings", "resources", "ledger", "outbox", "audit"}

// ErrOldLayout is returned (wrapped) by Open for a database of the layout
// before partitions, which must be migrated first.
var ErrOldLayout = errors.New("the database has the store layout before partitions (issue 15)")

// containerSpec is a container as this store needs it.
type containerSpec struct {
	name         string
	partitionKey string // the one partition key path
	// unindexed are paths kept out of the index: what no query filters on,
	// so that writing them costs no index updates.
	unindexed []string
}

// containerSpecs are the store's containers; the package documentation says why
// each is partitioned as it is.
var containerSpecs = []containerSpec{
	{name: cPartitions, partitionKey: "/pk",
		unindexed: []string{"/resources/*", "/findings/*", "/seen/*", "/record/*", "/data/?", "/item/*"}},
	{name: cGrants, partitionKey: "/id"},
	{name: cPoison, partitionKey: "/id"},
}

// UnindexedPaths returns the paths a container of the store keeps out of its
// index (infrastructure that creates the containers sets the same).
func UnindexedPaths(container string) []string {
	for _, c := range containerSpecs {
		if c.name == container {
			return slices.Clone(c.unindexed)
		}
	}
	return nil
}

// setup creates (with EnsureContainers) or checks the database and containers,
// after refusing a database of the old layout.
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
	if err := refuseOldLayout(ctx, db); err != nil {
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

// refuseOldLayout fails for a database that has containers of the layout
// before partitions and no partitions container: its state would be
// invisible to this store, and a new layout beside it would split the state
// in two.
func refuseOldLayout(ctx context.Context, db *azcosmos.DatabaseClient) error {
	exists := func(name string) (bool, error) {
		c, err := db.NewContainer(name)
		if err != nil {
			return false, err
		}
		_, err = c.Read(ctx, nil)
		if isStatus(err, http.StatusNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("container %s: read properties: %w", name, err)
		}
		return true, nil
	}
	if ok, err := exists(cPartitions); ok || err != nil {
		return err
	}
	var old []string
	for _, name := range legacyContainers {
		ok, err := exists(name)
		if err != nil {
			return err
		}
		if ok {
			old = append(old, name)
		}
	}
	if len(old) == 0 {
		return nil
	}
	return fmt.Errorf("%w: containers %s and no %s container; copy it into a new database with `exportguard store migrate --from URL --to URL` and use that one",
		ErrOldLayout, strings.Join(old, ", "), cPartitions)
}

// ensureContainer checks that a container exists with the expected partition
// key, creating it first when it is missing and o.EnsureContainers is set.
func ensureContainer(ctx context.Context, db *azcosmos.DatabaseClient, c *azcosmos.ContainerClient, spec containerSpec, o Options) error {
	resp, err := c.Read(ctx, nil)
	if isStatus(err, http.StatusNotFound) {
		if !o.EnsureContainers {
			return fmt.Errorf("missing: create it (partition key %s) and its database with the infrastructure, or open with EnsureContainers (ensureContainers=true in the store URL)", spec.partitionKey)
		}
		_, err = db.CreateContainer(ctx, containerProperties(spec), nil)
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
func containerProperties(spec containerSpec) azcosmos.ContainerProperties {
	p := azcosmos.ContainerProperties{
		ID:                     spec.name,
		PartitionKeyDefinition: azcosmos.PartitionKeyDefinition{Paths: []string{spec.partitionKey}},
	}
	if len(spec.unindexed) > 0 {
		ip := &azcosmos.IndexingPolicy{Automatic: true, IndexingMode: azcosmos.IndexingModeConsistent,
			IncludedPaths: []azcosmos.IncludedPath{{Path: "/*"}}}
		for _, path := range spec.unindexed {
			ip.ExcludedPaths = append(ip.ExcludedPaths, azcosmos.ExcludedPath{Path: path})
		}
		ip.ExcludedPaths = append(ip.ExcludedPaths, azcosmos.ExcludedPath{Path: `/"_etag"/?`})
		p.IndexingPolicy = ip
	}
	return p
}

// container returns the client of a container setup has checked.
func (s *Store) container(name string) *azcosmos.ContainerClient { return s.containers[name] }
