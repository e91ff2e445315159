package session

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Reader reads a session line by line. It has one rule for a line that is not
// a session line, whoever reads: a line Parse refuses, or one longer than
// MaxLineBytes (consumed, never held in memory), is returned as a
// *BadLineError, and the reader goes on with the next. Blank lines are passed
// over.
type Reader struct {
	br *bufio.Reader
	n  int
}

// NewReader reads a session from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10)}
}

// BadLineError is a line that is not a session line. The caller reports it,
// with its number, and reads on.
type BadLineError struct {
	Line int   // its number, from 1
	Err  error // why
}

func (e *BadLineError) Error() string { return e.Err.Error() }
func (e *BadLineError) Unwrap() error { return e.Err }

// ErrTooLong is the reason of a BadLineError for a line over MaxLineBytes.
var ErrTooLong = fmt.Errorf("line longer than %d bytes", MaxLineBytes)

// Next returns the next line that is not blank. At the end of the session it
// returns io.EOF; a *BadLineError for a line that is not a session line (the
// next call reads on); any other error is the underlying reader's.
func (r *Reader) Next() (Line, error) {
	for {
		raw, tooLong, err := r.readLine()
		if errors.Is(err, io.EOF) && len(raw) == 0 && !tooLong {
			return Line{}, io.EOF
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return Line{}, fmt.Errorf("read: %w", err)
		}
		if tooLong {
			return Line{}, &BadLineError{Line: r.n, Err: ErrTooLong}
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		l, err := Parse(raw)
		if err != nil {
			return Line{}, &BadLineError{Line: r.n, Err: err}
		}
		return l, nil
	}
}

// N is the number of the line Next last read, from 1.
func (r *Reader) N() int { return r.n }

// readLine reads one line of at most MaxLineBytes; a longer one is consumed and
// reported as too long rather than held in memory.
func (r *Reader) readLine() ([]byte, bool, error) {
	r.n++
	var line []byte
	tooLong := false
	for {
		chunk, isPrefix, err := r.br.ReadLine()
		if !tooLong {
			if len(line)+len(chunk) > MaxLineBytes {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if err != nil || !isPrefix {
			return line, tooLong, err
		}
	}
}
