package session

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Writer appends whole lines to a session file: each line goes out in one
// write, and a write that fails part-way is cut back off, so the file never
// ends in a torn line (record stopped by Ctrl-C or a full disk leaves a
// session replay reads to its last line). It syncs at most every second, and
// on Close. After a failed write it refuses every other.
type Writer struct {
	f        File
	size     int64
	lastSync time.Time
	err      error
}

// File is what Writer needs of an *os.File.
type File interface {
	io.WriteSeeker
	Truncate(size int64) error
	Sync() error
	Close() error
	Name() string
}

// NewWriter writes to f, from its current end (size bytes).
func NewWriter(f File, size int64) *Writer {
	return &Writer{f: f, size: size, lastSync: time.Now()}
}

// Create creates the session file; an existing one is refused unless force,
// so an hour's recording is never overwritten by mistake.
func Create(path string, force bool) (*Writer, error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("%s exists; choose another name or pass --force to overwrite it", path)
	}
	if err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	return NewWriter(f, 0), nil
}

// WriteLine appends line (as Encode makes it) and a newline.
func (w *Writer) WriteLine(line []byte) error {
	if w.err != nil {
		return w.err
	}
	if bytes.ContainsAny(line, "\r\n") {
		return errors.New("session: a line may not hold a newline")
	}
	buf := make([]byte, 0, len(line)+1)
	buf = append(append(buf, line...), '\n')
	n, err := w.f.Write(buf)
	if err != nil {
		if n > 0 {
			if terr := w.f.Truncate(w.size); terr != nil {
				err = errors.Join(err, fmt.Errorf("cut the torn line off: %w", terr))
			}
			_, _ = w.f.Seek(w.size, io.SeekStart)
		}
		w.err = fmt.Errorf("write %s: %w", w.f.Name(), err)
		return w.err
	}
	w.size += int64(n)
	if time.Since(w.lastSync) >= time.Second {
		w.lastSync = time.Now()
		if err := w.f.Sync(); err != nil {
			w.err = fmt.Errorf("sync %s: %w", w.f.Name(), err)
			return w.err
		}
	}
	return nil
}

// Close syncs and closes the file.
func (w *Writer) Close() error {
	if w.f == nil {
		return nil
	}
	err := errors.Join(w.f.Sync(), w.f.Close())
	w.f = nil
	if err != nil {
		return fmt.Errorf("close session: %w", err)
	}
	return nil
}
