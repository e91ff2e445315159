package session

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// flakyFile is a file whose next write manages failAfter bytes and fails.
type flakyFile struct {
	bytes.Buffer
	failAfter int // -1: no failure
	truncated bool
}

func (f *flakyFile) Write(p []byte) (int, error) {
	if f.failAfter >= 0 && f.failAfter < len(p) {
		n, _ := f.Buffer.Write(p[:f.failAfter])
		return n, errors.New("no space left on device")
	}
	return f.Buffer.Write(p)
}
func (f *flakyFile) Seek(int64, int) (int64, error) { return int64(f.Len()), nil }
func (f *flakyFile) Truncate(n int64) error {
	f.truncated = true
	f.Buffer.Truncate(int(n))
	return nil
}
func (f *flakyFile) Sync() error  { return nil }
func (f *flakyFile) Close() error { return nil }
func (f *flakyFile) Name() string { return "flaky.ndjson" }

func TestWriterCutsATornLineOff(t *testing.T) {
	f := &flakyFile{failAfter: -1}
	w := NewWriter(f, 0)
	if err := w.WriteLine([]byte(`{"source":"clock","at":"2026-11-02T09:00:00Z"}`)); err != nil {
		t.Fatal(err)
	}
	f.failAfter = 10
	err := w.WriteLine([]byte(`{"source":"clock","at":"2026-11-02T09:05:00Z"}`))
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("err = %v", err)
	}
	if got := f.String(); got != `{"source":"clock","at":"2026-11-02T09:00:00Z"}`+"\n" || !f.truncated {
		t.Errorf("file after a failed write: %q", got)
	}
	f.failAfter = -1
	if err := w.WriteLine([]byte(`{}`)); err == nil {
		t.Error("a writer that failed accepted another line")
	}
	if err := w.WriteLine([]byte("a\nb")); err == nil {
		t.Error("a line with a newline was accepted")
	}
}

func TestWriterRefusesANewline(t *testing.T) {
	w := NewWriter(&flakyFile{failAfter: -1}, 0)
	for _, l := range []string{"a\nb", "a\rb", "a\n"} {
		if err := w.WriteLine([]byte(l)); err == nil {
			t.Errorf("WriteLine(%q) accepted", l)
		}
	}
}

func TestCreateRefusesToOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.ndjson")
	if err := os.WriteFile(path, []byte("an hour of recording\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(path, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("Create over an existing file: %v", err)
	}
	w, err := Create(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(w.WriteLine([]byte(`{"source":"clock","at":"2026-11-02T09:00:00Z"}`)), w.Close(), w.Close()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != `{"source":"clock","at":"2026-11-02T09:00:00Z"}`+"\n" {
		t.Errorf("file = %q", b)
	}
}
