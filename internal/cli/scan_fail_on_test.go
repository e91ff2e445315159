package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/resourcegraph/rgtest"
)

// scan --fail-on: the findings are printed, then the exit is 3 when an open
// finding at or above the severity exists (an account replicating out of the
// United States: residency.replication, high), and 0 when none is.
func TestScanFailOn(t *testing.T) {
	t.Parallel()
	srv := rgtest.New()
	defer srv.Close()
	srv.Put(outOfUS(scanAccount(scanSubA, "stout")))
	srv.Put(inUS(scanAccount(scanSubA, "stin")))
	for _, tt := range []struct {
		failOn string
		code   int
	}{
		{"high", ExitFailsOn},
		{"medium", ExitFailsOn},
		{"critical", ExitOK},
	} {
		t.Run(tt.failOn, func(t *testing.T) {
			store := "sqlite:" + filepath.Join(t.TempDir(), "scan.db")
			run := runScanCommand(t, srv, store, "--subscription", scanSubA, "--fail-on", tt.failOn)
			if code := exitCode(run.err); code != tt.code {
				t.Fatalf("scan --fail-on %s: exit %d (%v), want %d\n%s", tt.failOn, code, run.err, tt.code, run.stderr)
			}
			if !strings.Contains(run.stdout, "stout") || !strings.Contains(run.stdout, "residency.replication") {
				t.Errorf("scan --fail-on %s must print the findings first:\n%s", tt.failOn, run.stdout)
			}
		})
	}
}
