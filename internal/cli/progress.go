package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// A long verb (replay, replay --via and --to-eventhub, record, scan, audit)
// shows how far it is on one line of stderr, and only when stderr is a
// terminal: a pipe or a file gets no control sequences. The line is redrawn
// by time, at most once a second, when the verb reports work done (no
// goroutine, no ticker: a verb that does nothing redraws nothing), with a
// count and, when the total is known (the sessions' size in bytes), a
// percentage and an estimate of the time left. Anything else written to
// stdout or stderr first clears it (progress.writer), and stop clears it for
// good, so that no table starts on the progress line.

// redrawEvery is the least time between two drawings of the line.
const redrawEvery = time.Second

// clearLine goes back to the line's start and erases it.
const clearLine = "\r\033[K"

// progress is one verb's progress line. Its methods are safe for concurrent use.
type progress struct {
	mu    sync.Mutex
	w     io.Writer // the terminal; nil when stderr is not one: nothing is shown
	now   func() time.Time
	text  func() string // what is done so far ("s100.ndjson: 1000 lines"), read when drawn
	total int64         // units of work in all (bytes); 0 when not known
	done  int64         // units of work done

	start, drawn   time.Time
	shown, stopped bool
}

// newProgress returns the progress line of a verb on stderr, drawn with text
// from the first tick a second after it starts. total is the work in all (0
// when not known), in the unit tick is given.
func (a *App) newProgress(stderr io.Writer, total int64, text func() string) *progress {
	p := &progress{now: a.now, text: text, total: total}
	if a.isTerminal(stderr) {
		p.w = stderr
	}
	p.start = p.now()
	p.drawn = p.start
	return p
}

// isTerminal reports whether w is a terminal, where progress may be shown
// (App.IsTerminal when set).
func (a *App) isTerminal(w io.Writer) bool {
	if a.IsTerminal != nil {
		return a.IsTerminal(w)
	}
	return isTerminal(w)
}

// isTerminal reports whether w is a terminal: not a buffer, a pipe, a file or
// /dev/null (a character device too). A writer progress wraps is what it wraps.
func isTerminal(w io.Writer) bool {
	if c, ok := w.(*clearing); ok {
		w = c.w
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// tick says how much work is done, and redraws the line when a second has
// passed since it was last drawn.
func (p *progress) tick(done int64) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = done
	if p.stopped {
		return
	}
	now := p.now()
	if now.Sub(p.drawn) < redrawEvery {
		return
	}
	p.drawn = now
	p.shown = true
	fmt.Fprint(p.w, clearLine+p.line(now))
}

// grow adds to the total, for work whose size is learned as it goes (a
// scan's Resource Graph queries, each of which says how many records it has).
func (p *progress) grow(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total += n
}

// line is what the progress line says at now.
func (p *progress) line(now time.Time) string {
	s := p.text()
	if p.total <= 0 || p.done <= 0 {
		return s
	}
	done := min(p.done, p.total)
	s += fmt.Sprintf(", %d%%", done*100/p.total)
	if elapsed := now.Sub(p.start); elapsed > 0 && done < p.total {
		left := time.Duration(float64(elapsed) * float64(p.total-done) / float64(done))
		s += ", about " + roughly(left) + " left"
	}
	return s
}

// roughly is d to the second (to the minute beyond an hour).
func roughly(d time.Duration) string {
	if d >= time.Hour {
		return d.Round(time.Minute).String()
	}
	return max(d.Round(time.Second), time.Second).String()
}

func (p *progress) clearLocked() {
	if p.shown {
		fmt.Fprint(p.w, clearLine)
		p.shown = false
	}
}

// stop erases the line and shows nothing more.
func (p *progress) stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	p.stopped = true
}

// writer is w, cleared of the progress line before each write: a verb writes
// its findings, warnings and summaries through it.
func (p *progress) writer(w io.Writer) io.Writer {
	if p == nil || p.w == nil {
		return w
	}
	return &clearing{p: p, w: w}
}

// clearing is a writer that clears the progress line before writing.
type clearing struct {
	p *progress
	w io.Writer
}

func (c *clearing) Write(b []byte) (int, error) {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	c.p.clearLocked()
	return c.w.Write(b)
}

// announce writes one line on a terminal before a verb waits for Azure (a
// sign-in, a connection), so that a slow answer or a time-out is not met with
// silence. It names what is reached (a host name) and how it signs in, never
// a secret.
func (a *App) announce(stderr io.Writer, format string, args ...any) {
	if a.isTerminal(stderr) {
		fmt.Fprintf(stderr, format+"…\n", args...)
	}
}

// sessionBytes is the size of the sessions together, progress's total; 0
// when one cannot be read (the verb says why when it opens it).
func sessionBytes(paths []string) int64 {
	var n int64
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			return 0
		}
		n += fi.Size()
	}
	return n
}

// counting counts the bytes read through it into *n.
type counting struct {
	r io.Reader
	n *int64
}

func (c counting) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	*c.n += int64(n)
	return n, err
}
