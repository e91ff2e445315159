// Package sqlitetest breaks SQLite store files the ways a disk, a file system
// or an operator does (read-only, full, overwritten), for the tests of the
// store, the health check and doctor. Each breakage is real: no fake file
// system, so that what is tested is what SQLite does.
package sqlitetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// Store is what Fill writes to: the SQLite store (this package cannot import
// it: its own tests import this package).
type Store interface {
	guard.Store
	guard.Batcher
}

// Fill writes n open findings, each with its audit record, in one batch: a
// store file of about 1 MB per thousand.
func Fill(t testing.TB, st Store, n int) {
	t.Helper()
	err := st.Batch(context.Background(), func(ctx context.Context) error {
		for i := range n {
			id := fmt.Sprintf("f-%d", i)
			res := fmt.Sprintf("/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a%d", i)
			part := guard.PartitionOf(res)
			_, err := st.UpdateFinding(ctx, part, id, func(*guard.Finding) (*guard.Finding, error) {
				return &guard.Finding{ID: id, Rule: guard.RuleEncryptionCMK, Status: guard.StatusOpen,
					ResourceID: res,
					Message:    "Storage account uses Microsoft-managed keys, not a customer-managed key."}, nil
			})
			if err != nil {
				return err
			}
			if _, err := st.AppendAudit(ctx, guard.AuditRecord{Partition: part, Kind: "change", Subject: res, At: time.Unix(int64(i), 0),
				Data: []byte(`{"operation":"Microsoft.Storage/storageAccounts/write","source":"eventhub"}`)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// ReadOnly makes the file at path unwritable to a process that opens it from
// now until the test ends: mode 0444, or, for root, whom modes do not stop,
// immutable (see Immutable).
func ReadOnly(t testing.TB, path string) {
	t.Helper()
	if os.Geteuid() == 0 {
		Immutable(t, path)
		return
	}
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(path, 0o644) })
}

// Immutable makes the file at path immutable (chattr +i) until the test ends:
// not even a process that has it open already may write to it. It skips the
// test where that is not possible (not root, or a file system without the
// attribute).
func Immutable(t testing.TB, path string) {
	t.Helper()
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		t.Skipf("cannot make %s immutable: chattr +i: %v %s", path, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("chattr", "-i", path).CombinedOutput(); err != nil {
			t.Errorf("chattr -i %s: %v %s", path, err, out)
		}
	})
}

// SmallDisk mounts a file system of size bytes (a tmpfs) for the test and
// returns its directory. It skips the test where mounting is not allowed (not
// root, or no CAP_SYS_ADMIN in a container).
func SmallDisk(t testing.TB, size int) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small disk: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// FillDisk writes a file into dir until its file system is full.
func FillDisk(t testing.TB, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for range 1 << 20 { // 64 GB at most
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
	t.Fatalf("%s did not fill up", dir)
}

// Corrupt overwrites n bytes in the middle of the file at path with random
// bytes from seed, as a bad disk or a stray write would.
func Corrupt(t testing.TB, path string, n int, seed int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() < int64(2*n) {
		t.Fatalf("%s has %d bytes, too few to overwrite %d in the middle", path, fi.Size(), n)
	}
	junk := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(junk)
	if _, err := f.WriteAt(junk, fi.Size()/2-int64(n)/2); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}
