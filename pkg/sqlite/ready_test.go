package sqlite

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/sqlite/sqlitetest"
)

func fillStore(t *testing.T, s *Store, n int) { sqlitetest.Fill(t, s, n) }

// writtenStore is a store file with n findings in it, closed.
func writtenStore(t *testing.T, dir string, n int) string {
	t.Helper()
	path := filepath.Join(dir, "exportguard.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	fillStore(t, s, n)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// A file with 64 KB of random bytes in its middle is refused at open, with
// the path and the first lines of what SQLite found; before the check, it
// opened, read and took writes.
func TestOpenRefusesACorruptFile(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			path := writtenStore(t, t.TempDir(), 3000)
			sqlitetest.Corrupt(t, path, 64<<10, seed)
			s, err := Open(t.Context(), path)
			if err == nil {
				s.Close()
				t.Fatal("Open accepted a corrupt file")
			}
			msg := err.Error()
			for _, want := range []string{path, "corrupt", "PRAGMA quick_check", "Tree "} {
				if !strings.Contains(msg, want) {
					t.Errorf("the error does not say %q: %s", want, msg)
				}
			}
			if n := strings.Count(msg, "Tree "); n > checkLines {
				t.Errorf("the error quotes %d lines of quick_check, want at most %d: %s", n, checkLines, msg)
			}
		})
	}
}

// Ready tries a write and rolls it back, and finds each way a store that
// opens and reads may be unable to write.
func TestReady(t *testing.T) {
	for _, tc := range []struct {
		name string
		// broken breaks the store's file; it returns the open store.
		broken func(t *testing.T) *Store
		want   string // in Ready's error; "" for ready
	}{
		{"a working file", func(t *testing.T) *Store {
			return openTest(t, writtenStore(t, t.TempDir(), 100))
		}, ""},
		{"in memory", func(t *testing.T) *Store { return openTest(t, Memory) }, ""},
		{"a read-only file", func(t *testing.T) *Store {
			path := writtenStore(t, t.TempDir(), 100)
			sqlitetest.ReadOnly(t, path)
			return openTest(t, path) // opens, and reads
		}, "readonly database"},
		{"a file made read-only under the process", func(t *testing.T) *Store {
			s := openTest(t, filepath.Join(t.TempDir(), "exportguard.db"))
			sqlitetest.Immutable(t, s.path)
			fillStore(t, s, 100) // lands in the WAL, and is not copied back
			return s
		}, "copying the WAL into the file failed"},
		{"a full disk", func(t *testing.T) *Store {
			dir := sqlitetest.SmallDisk(t, 8<<20)
			s := openTest(t, filepath.Join(dir, "exportguard.db"))
			fillStore(t, s, 100)
			sqlitetest.FillDisk(t, dir)
			return s
		}, "the disk is full"},
		{"a file corrupted under the process", func(t *testing.T) *Store {
			s := openTest(t, filepath.Join(t.TempDir(), "exportguard.db"))
			fillStore(t, s, 3000)
			if err := s.Ready(t.Context()); err != nil { // copies the WAL into the file
				t.Fatal(err)
			}
			sqlitetest.Corrupt(t, s.path, 64<<10, 1)
			later := s.checked.Add(integrityEvery)
			s.now = func() time.Time { return later }
			return s
		}, "the file is corrupt (PRAGMA quick_check: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.broken(t)
			if _, err := s.Processed(t.Context(), partSA, "event:eventgrid:e-1"); err != nil {
				t.Fatalf("the store does not even read: %v", err)
			}
			err := s.Ready(t.Context())
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Ready: %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Ready: %v, want an error saying %q", err, tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), s.path):
				t.Errorf("Ready: %v, want it to name %s", err, s.path)
			}
			if ok, _ := s.Processed(t.Context(), "~readiness", readinessKey); ok {
				t.Error("Ready's write was kept")
			}
		})
	}
}

// The integrity check of a store that is open runs at most every
// integrityEvery: in between, Ready answers what the last one found.
func TestReadyRechecksIntegrityEveryInterval(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "exportguard.db"))
	fillStore(t, s, 3000)
	if err := s.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	sqlitetest.Corrupt(t, s.path, 64<<10, 2)
	opened := s.checked
	for _, tc := range []struct {
		after   time.Duration
		corrupt bool
	}{
		{time.Minute, false}, // not checked since the open
		{integrityEvery - time.Second, false},
		{integrityEvery, true},
		{integrityEvery + time.Minute, true}, // the finding is kept until the next check
	} {
		s.now = func() time.Time { return opened.Add(tc.after) }
		err := s.Ready(t.Context())
		if got := err != nil && strings.Contains(err.Error(), "corrupt"); got != tc.corrupt {
			t.Errorf("%v after the open: Ready = %v, want corrupt %v", tc.after, err, tc.corrupt)
		}
	}
}
