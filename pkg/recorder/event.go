package recorder

import (
	"context"
	"time"
)

// Event is one message as the hub delivered it: field for field
// eventhubs.Event, so that one converts to the other.
type Event struct {
	Body           []byte
	EnqueuedTime   time.Time
	PartitionID    string
	SequenceNumber int64
}

// Receiver yields the hub's messages: at least one, oldest first, or an error:
// ctx's when ctx ends first, io.EOF when the source has no more.
type Receiver interface {
	Receive(ctx context.Context) ([]Event, error)
}
