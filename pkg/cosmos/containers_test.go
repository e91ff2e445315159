package cosmos

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"
)

// TestContainersCreated: EnsureContainers makes every container with its
// partition key, and the ledger with its default TTL. (The local server keeps
// the TTL but expires nothing, so expiry itself is Azure's to test.)
func TestContainersCreated(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ttl     time.Duration
		wantTTL *int32
	}{
		{"default TTL", 0, ptr(int32(30 * 24 * 60 * 60))},
		{"TTL of a day", 24 * time.Hour, ptr(int32(24 * 60 * 60))},
		{"no expiry", -1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(t, newDatabaseName())
			o.LedgerTTL = tc.ttl
			s := openWith(t, o)
			for _, spec := range containerSpecs {
				p := readProperties(t, s, spec.name)
				if got := p.PartitionKeyDefinition.Paths; !slices.Equal(got, []string{spec.partitionKey}) {
					t.Errorf("%s: partition key %v, want [%s]", spec.name, got, spec.partitionKey)
				}
				want := (*int32)(nil)
				if spec.ledger {
					want = tc.wantTTL
				}
				if !equalPtr(p.DefaultTimeToLive, want) {
					t.Errorf("%s: default TTL %v, want %v", spec.name, deref(p.DefaultTimeToLive), deref(want))
				}
			}
		})
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
	} else if !strings.Contains(err.Error(), "container findings: missing") {
		t.Errorf("Open of a database that does not exist: got %v, want it to name the missing container", err)
	}

	o.EnsureContainers = true
	openWith(t, o)
	o.EnsureContainers = false
	openWith(t, o)
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
	c, _ := db.NewContainer(cLedger)
	if _, err := c.Delete(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	_, err = db.CreateContainer(t.Context(), azcosmos.ContainerProperties{ID: cLedger,
		PartitionKeyDefinition: azcosmos.PartitionKeyDefinition{Paths: []string{"/key"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Open(t.Context(), o)
	if err == nil {
		s2.Close()
		t.Fatal("Open with the ledger partitioned by /key: got no error")
	}
	if !strings.Contains(err.Error(), "container ledger: partition key [/key], want [/id]") {
		t.Errorf("Open with the ledger partitioned by /key: got %v", err)
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

func ptr[T any](v T) *T { return &v }

func equalPtr[T comparable](a, b *T) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func deref[T any](p *T) any {
	if p == nil {
		return "none"
	}
	return *p
}
