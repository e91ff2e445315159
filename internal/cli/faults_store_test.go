package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/functions"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/replay"
	"github.com/exportguard/exportguard/pkg/sqlite"
	"github.com/exportguard/exportguard/pkg/sqlite/sqlitetest"
)

// Fault tests (issue 14, case 9): a broken store. The health check must say
// so (503), and a corrupt file must not be opened at all.

// openServed opens the store at path as serve does (openStore).
func openServed(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := testApp().openStore(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st.(*sqlite.Store)
}

// writtenStoreFile is a closed store file at dir/exportguard.db with n findings.
func writtenStoreFile(t *testing.T, dir string, n int) string {
	t.Helper()
	path := filepath.Join(dir, "exportguard.db")
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	sqlitetest.Fill(t, st, n)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// healthOf asks the custom handler serve would run on st for its health, as a
// person does (GET /health) and as the Functions host does (the health
// function's invocation), and returns both statuses and the reason given.
func healthOf(t *testing.T, st *sqlite.Store) (direct, invoked int, reason string) {
	t.Helper()
	now := time.Date(2026, 11, 2, 10, 31, 48, 0, time.UTC)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pl, err := testApp().newPipeline(st, replay.NewARM(func() time.Time { return now }), policyfile.Default(), log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(functions.NewHandler(functions.Options{
		Ingester: testApp().servedIngester(pl, st),
		Ready:    storeReady(st), // as serve wires it
		Now:      func() time.Time { return now },
		Logger:   log,
	}))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Status, Reason string }
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("GET /health: %v", err)
	}
	direct, reason = resp.StatusCode, body.Reason

	resp, err = http.Post(srv.URL+"/health", "application/json", strings.NewReader(
		`{"Data":{"req":{"Url":"http://localhost:7071/api/health","Method":"GET","Query":{},"Headers":{}}},"Metadata":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	var inv struct {
		Outputs struct {
			Res struct{ StatusCode int }
		}
	}
	err = json.NewDecoder(resp.Body).Decode(&inv)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("health invocation: %d %v", resp.StatusCode, err)
	}
	return direct, inv.Outputs.Res.StatusCode, reason
}

// TestFaultStoreBroken: a store that opens and reads but cannot write (a
// read-only or immutable file, a full disk) answers the health check 503, as
// a person and the Functions host ask it; a working one 200. The short run
// breaks small stores; the full one (make faults) larger ones.
func TestFaultStoreBroken(t *testing.T) {
	t.Parallel()
	n := faultsScale(t, 200, 20000)
	for _, tc := range []struct {
		name string
		open func(t *testing.T) *sqlite.Store
		want int
	}{
		{"a working file", func(t *testing.T) *sqlite.Store {
			return openServed(t, writtenStoreFile(t, t.TempDir(), n))
		}, http.StatusOK},
		{"a read-only file", func(t *testing.T) *sqlite.Store {
			path := writtenStoreFile(t, t.TempDir(), n)
			sqlitetest.ReadOnly(t, path)
			return openServed(t, path)
		}, http.StatusServiceUnavailable},
		{"a file made immutable under the process", func(t *testing.T) *sqlite.Store {
			path := filepath.Join(t.TempDir(), "exportguard.db")
			st := openServed(t, path)
			sqlitetest.Immutable(t, path)
			sqlitetest.Fill(t, st, n) // lands in the WAL, which cannot be copied back
			return st
		}, http.StatusServiceUnavailable},
		{"a full disk", func(t *testing.T) *sqlite.Store {
			dir := sqlitetest.SmallDisk(t, faultsScale(t, 8<<20, 64<<20))
			st := openServed(t, filepath.Join(dir, "exportguard.db"))
			sqlitetest.Fill(t, st, n/10)
			sqlitetest.FillDisk(t, dir)
			return st
		}, http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.open(t)
			if _, err := st.Processed(t.Context(), "~probe", "event:eventgrid:e-1"); err != nil {
				t.Fatalf("the store does not even read: %v", err)
			}
			direct, invoked, reason := healthOf(t, st)
			if direct != tc.want || invoked != tc.want {
				t.Errorf("GET /health = %d, health invocation = %d, want %d", direct, invoked, tc.want)
			}
			if tc.want != http.StatusOK && reason != "readiness check failed" {
				t.Errorf("the reason is %q, want the fixed words %q", reason, "readiness check failed")
			}
		})
	}
}

// TestFaultStoreCorrupt: a store file with 64 KB of random bytes written into
// its middle is refused when serve opens it, with the path and SQLite's words,
// rather than answering health checks and events until a reader trips. The
// full run tries more seeds on a larger file.
func TestFaultStoreCorrupt(t *testing.T) {
	t.Parallel()
	n, seeds := faultsScale(t, 3000, 20000), faultsScale(t, 2, 12)
	path := writtenStoreFile(t, t.TempDir(), n)
	for seed := range int64(seeds) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "exportguard.db")
			copyFile(t, path, bad)
			sqlitetest.Corrupt(t, bad, 64<<10, seed)
			st, err := testApp().openStore(context.Background(), "sqlite:"+bad)
			if err == nil {
				st.Close()
				t.Fatal("serve's store opened a corrupt file")
			}
			for _, want := range []string{bad, "corrupt", "PRAGMA quick_check"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error does not say %q: %v", want, err)
				}
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
