package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/cosmos/cosmostest"
)

// TestReplayCosmosMatchesEmbedded replays every recorded session twice, into
// the embedded store and into Cosmos DB (the local server, a fresh database
// per session), and wants the same findings printed, line for line, and the
// same audit trail: audit verify passes on both, with the same count and last
// hash, since every record hashes the same content. It never skips: when the
// server cannot start, it fails and says why.
func TestReplayCosmosMatchesEmbedded(t *testing.T) {
	t.Parallel()
	srv := cosmostest.StartForTest(t)
	app := envApp(map[string]string{envCosmosKey: cosmostest.Key})
	dir := t.TempDir()
	printed := 0
	for i, s := range sessions(t) {
		t.Run(s.name, func(t *testing.T) {
			args := []string{"replay", "--format", "json"}
			if s.policy != "" {
				args = append(args, "--policy", s.policy)
			}
			embedded := "sqlite:" + filepath.Join(dir, s.name+".db")
			want, _, err := runApp(t, app, append(args, "--store", embedded, s.path)...)
			if err != nil {
				t.Fatalf("replay into %s: %v", embedded, err)
			}
			cosmos := fmt.Sprintf("cosmos:%s?database=replay-%d-%d-%s", srv.Endpoint, os.Getpid(), i, s.name)
			got, stderr, err := runApp(t, app, append(args, "--store", cosmos+"&ensureContainers=true", s.path)...)
			if err != nil {
				t.Fatalf("replay into Cosmos DB: %v\nstderr:\n%s\nserver output:\n%s", err, stderr, srv.Output())
			}
			if want != "" {
				printed++
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("findings printed with Cosmos DB differ from the embedded store's (-embedded +cosmos):\n%s", d)
			}

			wantTrail := verifiedTrail(t, app, embedded)
			if gotTrail := verifiedTrail(t, app, cosmos); gotTrail != wantTrail {
				t.Errorf("audit verify: Cosmos DB says %q, the embedded store %q", gotTrail, wantTrail)
			}
		})
	}
	if printed == 0 {
		t.Errorf("no session printed a finding: the comparison proves nothing")
	}
}

// verifiedTrail runs audit verify on a store and returns what it printed
// after the store's name: how many records verified, and the last hash.
func verifiedTrail(t *testing.T, app *App, store string) string {
	t.Helper()
	out, _, err := runApp(t, app, "audit", "verify", "--store", store)
	if err != nil {
		t.Fatalf("audit verify --store %s: %v", store, err)
	}
	_, summary, ok := strings.Cut(out, store+": ")
	if !ok {
		t.Fatalf("audit verify --store %s printed %q", store, out)
	}
	return summary
}
