package recorder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/session"
)

// List implements guard.Lister for the recorder's pipeline, as ReadResource
// does for reads: it asks ARM, writes every resource listed as an arm line at
// the session's clock (unless the session already holds that very state), a
// deleted line for one the session lists that ARM no longer does, and answers
// from the session, which replay's List reads the same way. A list ARM cannot
// give is answered from what the session knew.
func (s sessionReader) List(ctx context.Context, q guard.ListQuery) ([]*guard.Resource, error) {
	r := s.r
	l, ok := r.Live.(guard.Lister)
	if !ok {
		return r.session.List(ctx, q)
	}
	live, err := l.List(ctx, q)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, err
	case errors.Is(err, guard.ErrUnsupported):
		return nil, err // the live pipeline would judge without it too
	case err != nil && !errors.Is(err, guard.ErrNotFound):
		r.unread(q.String(), err)
		return r.session.List(ctx, q)
	}
	readAt := r.now()
	listed := map[string]bool{}
	for _, res := range live {
		listed[guard.IDKey(res.ID)] = true
		body, err := compactJSON(res.Body)
		if err != nil {
			r.unread(res.ID, fmt.Errorf("listed body is not JSON: %w", err))
			continue
		}
		if known, kerr := r.session.ReadResource(ctx, res.ID); kerr == nil && string(known.Body) == string(body) {
			continue
		}
		if err := r.observe(session.ARM{ObservedAt: r.clock, ReadAt: readAt, Body: body}); err != nil {
			r.unread(res.ID, err)
		}
	}
	known, kerr := r.session.List(ctx, q)
	if kerr == nil {
		for _, k := range known {
			if listed[guard.IDKey(k.ID)] {
				continue
			}
			body, _ := json.Marshal(map[string]string{"id": k.ID})
			if err := r.observe(session.ARM{ObservedAt: r.clock, ReadAt: readAt, Deleted: true, Body: body}); err != nil {
				r.unread(k.ID, err)
			}
		}
	}
	return r.session.List(ctx, q)
}
