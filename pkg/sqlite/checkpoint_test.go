package sqlite

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// Commits reach the database file by the background checkpoints, without
// waiting for the log to fill up to SQLite's automatic checkpoint (1000
// pages) or for the store to close.
func TestCommitsAreCheckpointedInTheBackground(t *testing.T) {
	path := filepath.Join(t.TempDir(), "exportguard.db")
	s := openTest(t, path)
	// 100 commits of a 16 KB body each: 1.6 MB, about 500 pages of the log,
	// fewer than the automatic checkpoint waits for.
	const n, size = 100, 16 << 10
	body := []byte(`{"filler":"` + strings.Repeat("x", size) + `"}`)
	for i := range n {
		r := &guard.Resource{ID: fmt.Sprintf("/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a%d", i), Body: body}
		if err := s.PutResource(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	var size0 int64
	for range 500 { // 10 s at most
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if size0 = st.Size(); size0 >= n*size {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if size0 < n*size {
		t.Fatalf("database file is %d bytes after %d commits of %d bytes: the log was not checkpointed", size0, n, size)
	}
	// What was copied is what was committed.
	got, err := s.GetResource(t.Context(), "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a99")
	if err != nil || len(got.Body) != len(body) {
		t.Fatalf("GetResource after checkpoints = %v, body %d bytes", err, len(got.Body))
	}
}
