package eventhubs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Event is one Event Hubs message: its body as the producer sent it and, for a
// received message, where and when the hub stored it.
type Event struct {
	Body           []byte
	EnqueuedTime   time.Time // set by the hub; zero on a message to send
	PartitionID    string    // received messages only
	SequenceNumber int64     // received messages only
}

// Receiver yields messages from every partition of a hub.
type Receiver interface {
	// Receive waits for messages and returns at least one, oldest first, or an
	// error: ctx's error when ctx ends first, io.EOF when the source has no more
	// (a hub never does; fakes and files may).
	Receive(ctx context.Context) ([]Event, error)
	Close(ctx context.Context) error
}

// Sender sends batches of messages to a hub.
type Sender interface {
	// NewBatch returns an empty batch, sized to what the hub accepts in one send.
	NewBatch(ctx context.Context) (Batch, error)
	// Send sends a batch; its messages land in the hub in the batch's order.
	Send(ctx context.Context, b Batch) error
	Close(ctx context.Context) error
}

// Batch collects messages for one send.
type Batch interface {
	// Add appends a message, or returns an error wrapping ErrTooLarge when the
	// message does not fit in what is left of the batch.
	Add(e Event) error
	// Len is how many messages the batch holds.
	Len() int
}

// ErrTooLarge is wrapped by Batch.Add when a message does not fit.
var ErrTooLarge = errors.New("message does not fit in the batch")

// SortByEnqueuedTime orders events oldest first; events enqueued at the same
// instant keep their order (partition by partition, each in sequence).
func SortByEnqueuedTime(evs []Event) {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].EnqueuedTime.Before(evs[j].EnqueuedTime) })
}

// Publisher sends messages in order, packed into as few batches as the hub's
// size limit allows: a batch is sent when the next message does not fit in it,
// and the message starts the next batch. Add and Flush are not safe for
// concurrent use.
type Publisher struct {
	Sender Sender
	// Sent, when set, is told after every batch sent how many messages it held.
	Sent func(messages int)

	cur     Batch
	batches int
	events  int
}

// Add queues a message, sending the batch in hand first when the message does
// not fit in it. A message too large for an empty batch is an error naming
// its size; nothing after it is sent.
func (p *Publisher) Add(ctx context.Context, e Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.cur == nil {
		b, err := p.Sender.NewBatch(ctx)
		if err != nil {
			return fmt.Errorf("new batch: %w", err)
		}
		p.cur = b
	}
	err := p.cur.Add(e)
	if err == nil {
		return nil
	}
	if !errors.Is(err, ErrTooLarge) {
		return fmt.Errorf("add a message of %d bytes to the batch: %w", len(e.Body), err)
	}
	if p.cur.Len() == 0 {
		return fmt.Errorf("a message of %d bytes is larger than one batch may be: %w", len(e.Body), ErrTooLarge)
	}
	if err := p.Flush(ctx); err != nil {
		return err
	}
	return p.Add(ctx, e)
}

// Flush sends the batch in hand, if it holds anything.
func (p *Publisher) Flush(ctx context.Context) error {
	if p.cur == nil || p.cur.Len() == 0 {
		return nil
	}
	if err := p.Sender.Send(ctx, p.cur); err != nil {
		return fmt.Errorf("send a batch of %d message(s): %w", p.cur.Len(), err)
	}
	n := p.cur.Len()
	p.cur = nil
	p.batches++
	p.events += n
	if p.Sent != nil {
		p.Sent(n)
	}
	return nil
}

// Stats reports how many batches and messages were sent so far.
func (p *Publisher) Stats() (batches, messages int) { return p.batches, p.events }
