package cli

import (
	"context"

	"github.com/exportguard/exportguard/pkg/cosmos"
	"github.com/exportguard/exportguard/pkg/guard"
)

// openCosmosLegacy opens a Cosmos DB database of the layout before partitions
// for store migrate: the URL as --store takes it, the key from COSMOS_KEY (or
// Entra ID without it).
func (a *App) openCosmosLegacy(ctx context.Context, rest string) (guard.LegacyStore, error) {
	o, err := cosmos.ParseURL(rest) // its errors name the host, never the query or the key
	if err != nil {
		return nil, err
	}
	o.Key = cosmos.AccountKey(a.getenv(envCosmosKey))
	l, err := cosmos.OpenLegacy(ctx, o)
	if err != nil {
		return nil, err // a nil *cosmos.Legacy must not become a non-nil interface
	}
	return l, nil
}
