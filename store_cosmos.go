package main

import (
	"context"
	"errors"

	"github.com/exportguard/exportguard/pkg/guard"
)

// openCosmosLegacy opens a Cosmos DB database of the layout before partitions
// for store migrate. The Cosmos DB legacy reader (cosmos.OpenLegacy) is not in
// this build yet.
func openCosmosLegacy(_ context.Context, _ string) (guard.LegacyStore, error) {
	return nil, errors.New("migrating from Cosmos DB is not supported yet: this build has no reader of the old Cosmos DB layout; migrate a sqlite: store, or use a later build")
}
