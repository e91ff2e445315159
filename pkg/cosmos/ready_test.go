package cosmos

import (
	"net/http"
	"strings"
	"testing"
)

// Ready writes: an identity whose writes are refused (403, as for a principal
// with only the Cosmos DB Built-in Data Reader role) or a server throttling
// writes past the retries is not ready, though reads still work.
func TestReadyWrites(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int // answered to writes in the partitions container; 0 for none
		want   string
	}{
		{"writes work", 0, ""},
		{"writes forbidden", http.StatusForbidden, "403"},
		{"writes throttled", http.StatusTooManyRequests, "429"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &faults{match: docsOf(cPartitions, http.MethodPost), status: tc.status}
			if tc.status != 0 {
				f.left.Store(1000)
			}
			_, s := openFaulty(t, f)
			if _, err := s.Processed(t.Context(), testPartition, "event:eventgrid:e-1"); err != nil {
				t.Fatalf("reads fail too: %v", err)
			}
			err := s.Ready(t.Context())
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Ready: %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Ready: %v, want an error with %q", err, tc.want)
			}
			// Twice: the document is overwritten, not created again.
			if tc.want == "" {
				if err := s.Ready(t.Context()); err != nil {
					t.Errorf("Ready again: %v", err)
				}
			}
		})
	}
}
