package guard

import (
	"context"
	"time"
)

// KeepPoison keeps input the caller will not hand to a decoder (a message body
// over the size a source allows) as poison with the reason, as the pipeline
// keeps input its decoders refuse: the first part of body, under an ID that
// the source and that part decide.
func (p *Pipeline) KeepPoison(ctx context.Context, src Source, reason string, body []byte, now time.Time) error {
	return p.keepPoison(ctx, src, reason, body, now)
}
