package cosmos

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"
)

// TestContainersCreated: EnsureContainers makes every container with its
// partition key, and the partitions container with what it indexes.
func TestContainersCreated(t *testing.T) {
	s := openTest(t)
	for _, spec := range containerSpecs {
		p := readProperties(t, s, spec.name)
		if got := p.PartitionKeyDefinition.Paths; !slices.Equal(got, []string{spec.partitionKey}) {
			t.Errorf("%s: partition key %v, want [%s]", spec.name, got, spec.partitionKey)
		}
		if p.DefaultTimeToLive != nil {
			t.Errorf("%s: default TTL %d, want none (audit records must not expire)", spec.name, *p.DefaultTimeToLive)
		}
	}
	ip := containerProperties(containerSpecs[0]).IndexingPolicy
	if ip == nil || !slices.ContainsFunc(ip.ExcludedPaths, func(p azcosmos.ExcludedPath) bool { return p.Path == "/seen/*" }) {
		t.Errorf("partitions: indexing policy %+v, want /seen/* (and the other bulky paths) kept out of the index", ip)
	}
}

// TestOpenWithoutEnsureContainers: without EnsureContainers, Open creates
// nothing and says which container is missing; once they exist, it opens.
func TestOpenWithoutEnsureContainers(t *testing.T) {
	o := testOptions(t, newDatabaseName())
	o.EnsureContainers = false
	if s, err := Open(t.Context(), o); err == nil {
		s.Close()
		t.Fatal("Open of a database that does not exist: got no error")
	} else if !strings.Contains(err.Error(), "container partitions: missing") {
		t.Errorf("Open of a database that does not exist: got %v, want it to name the missing container", err)
	}

	o.EnsureContainers = true
	openWith(t, o)
	o.EnsureContainers = false
	openWith(t, o)
}

// TestOpenRefusesOldLayout: a database with the containers of the layout
// before partitions, and no partitions container, is refused, with or
// without EnsureContainers, naming the command that migrates it; nothing is
// created beside it.
func TestOpenRefusesOldLayout(t *testing.T) {
	for _, ensure := range []bool{false, true} {
		o := testOptions(t, newDatabaseName())
		db := makeOldLayout(t, o)
		o.EnsureContainers = ensure
		s, err := Open(t.Context(), o)
		if err == nil {
			s.Close()
			t.Fatalf("Open (EnsureContainers %v) of an old-layout database: got no error", ensure)
		}
		if !errors.Is(err, ErrOldLayout) || !strings.Contains(err.Error(), "exportguard store migrate --from URL --to URL") {
			t.Errorf("Open (EnsureContainers %v) of an old-layout database: got %v, want ErrOldLayout naming the migrate command", ensure, err)
		}
		c, _ := db.NewContainer(cPartitions)
		if _, err := c.Read(t.Context(), nil); !isStatus(err, 404) {
			t.Errorf("Open (EnsureContainers %v) of an old-layout database created the partitions container (%v)", ensure, err)
		}
	}
}

// TestOpenRefusesWrongPartitionKey: a container made by hand with another
// partition key would hide its documents from point reads; Open refuses it.
func TestOpenRefusesWrongPartitionKey(t *testing.T) {
	o := testOptions(t, newDatabaseName())
	s := openWith(t, o)
	db, err := s.client.NewDatabase(o.Database)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := db.NewContainer(cPartitions)
	if _, err := c.Delete(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	_, err = db.CreateContainer(t.Context(), azcosmos.ContainerProperties{ID: cPartitions,
		PartitionKeyDefinition: azcosmos.PartitionKeyDefinition{Paths: []string{"/id"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Open(t.Context(), o)
	if err == nil {
		s2.Close()
		t.Fatal("Open with partitions partitioned by /id: got no error")
	}
	if !strings.Contains(err.Error(), "container partitions: partition key [/id], want [/pk]") {
		t.Errorf("Open with partitions partitioned by /id: got %v", err)
	}
}

func readProperties(t *testing.T, s *Store, name string) azcosmos.ContainerProperties {
	t.Helper()
	resp, err := s.container(name).Read(t.Context(), nil)
	if err != nil {
		t.Fatalf("read %s properties: %v", name, err)
	}
	return *resp.ContainerProperties
}
