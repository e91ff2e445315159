package guard

import (
	"context"
	"time"
)

// Decoded is what a decoder made of one delivery: the changes it understood, the
// pieces it could not read (kept as poison with the reason), and how many valid
// items it ignored because they are of no interest (other event types).
type Decoded struct {
	Changes  []Change
	Rejected []Rejected
	Ignored  int
}

// Rejected is one piece of input a decoder could not turn into a change.
type Rejected struct {
	Reason string
	Body   []byte // the piece as it arrived (a record, an event), truncated by the decoder if huge
}

// Decoder turns one delivery (an Event Hubs message body, an Event Grid delivery)
// into changes. It never panics on input, and a bad item never hides the good
// ones. The error is for a delivery that is unreadable as a whole.
type Decoder func(body []byte) (Decoded, error)

// ResourceReader reads a resource as ARM returns it now. It returns ErrNotFound
// (wrapped) for a resource that does not exist (404), and ErrUnknown (wrapped)
// when it has no answer either way (a recorded session that never saw it).
type ResourceReader interface {
	ReadResource(ctx context.Context, id string) (*Resource, error)
}

// Clock gives the time the pipeline works at: the wall clock in Azure, the replay
// clock in a recorded session. Rules never read it themselves.
type Clock func() time.Time
