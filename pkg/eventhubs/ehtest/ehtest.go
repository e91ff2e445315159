// Package ehtest holds fakes for the eventhubs interfaces: a Sender that keeps
// what it was sent and enforces a batch size limit, and a Receiver that plays a
// script of batches, idle periods and errors. Tests of code above the Event Hubs
// boundary use them instead of a hub.
package ehtest

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/exportguard/exportguard/pkg/eventhubs"
)

// Sender is a fake eventhubs.Sender. A batch holds at most MaxBytes of message
// bodies plus Overhead bytes per message (the AMQP framing a real batch counts).
type Sender struct {
	MaxBytes int // 0: no limit
	Overhead int
	// FailSend, when set, is returned by the nth Send (1-based) and later ones.
	FailSend   error
	FailSendAt int

	mu     sync.Mutex
	sent   [][]eventhubs.Event
	sends  int
	closed bool
}

// Batches returns the batches sent, in order.
func (s *Sender) Batches() [][]eventhubs.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]eventhubs.Event, len(s.sent))
	copy(out, s.sent)
	return out
}

// Bodies returns every message body sent, in order.
func (s *Sender) Bodies() []string {
	var out []string
	for _, b := range s.Batches() {
		for _, e := range b {
			out = append(out, string(e.Body))
		}
	}
	return out
}

// Closed reports whether Close was called.
func (s *Sender) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// NewBatch implements eventhubs.Sender.
func (s *Sender) NewBatch(ctx context.Context) (eventhubs.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &Batch{max: s.MaxBytes, overhead: s.Overhead}, nil
}

// Send implements eventhubs.Sender.
func (s *Sender) Send(ctx context.Context, b eventhubs.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fb, ok := b.(*Batch)
	if !ok {
		return fmt.Errorf("ehtest: %T is not a batch of this sender", b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sends++
	if s.FailSend != nil && s.sends >= s.FailSendAt {
		return s.FailSend
	}
	s.sent = append(s.sent, append([]eventhubs.Event(nil), fb.events...))
	return nil
}

// Close implements eventhubs.Sender.
func (s *Sender) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Batch is the fake batch.
type Batch struct {
	max, overhead, size int
	events              []eventhubs.Event
}

// Add implements eventhubs.Batch.
func (b *Batch) Add(e eventhubs.Event) error {
	n := len(e.Body) + b.overhead
	if b.max > 0 && b.size+n > b.max {
		return fmt.Errorf("ehtest: %d + %d bytes > %d: %w", b.size, n, b.max, eventhubs.ErrTooLarge)
	}
	b.size += n
	b.events = append(b.events, e)
	return nil
}

// Len implements eventhubs.Batch.
func (b *Batch) Len() int { return len(b.events) }

// Step is one answer of a Receiver's script.
type Step struct {
	Events []eventhubs.Event // returned, when set
	Idle   bool              // Receive answers context.DeadlineExceeded: nothing arrived in time
	Err    error             // returned, when set
	// Before runs before the step's answer (e.g. move a fake clock, cancel a context).
	Before func()
}

// Receiver is a fake eventhubs.Receiver playing Steps in order. When the script
// is over it answers io.EOF, or, with Block, waits for the context to end.
type Receiver struct {
	Steps []Step
	Block bool

	mu     sync.Mutex
	next   int
	closed bool
}

// Receive implements eventhubs.Receiver.
func (r *Receiver) Receive(ctx context.Context) ([]eventhubs.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.next >= len(r.Steps) {
		r.mu.Unlock()
		if r.Block {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return nil, io.EOF
	}
	st := r.Steps[r.next]
	r.next++
	r.mu.Unlock()
	if st.Before != nil {
		st.Before()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch {
	case st.Err != nil:
		return nil, st.Err
	case st.Idle:
		return nil, context.DeadlineExceeded
	}
	return append([]eventhubs.Event(nil), st.Events...), nil
}

// Close implements eventhubs.Receiver.
func (r *Receiver) Close(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

// Closed reports whether Close was called.
func (r *Receiver) Closed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

var (
	_ eventhubs.Sender   = (*Sender)(nil)
	_ eventhubs.Receiver = (*Receiver)(nil)
)
