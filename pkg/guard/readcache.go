package guard

import (
	"context"
	"sync"
)

// A delivery (an Event Hubs batch, a sweep) often touches one resource several
// times: the Start and Success of an operation, a VM and the NICs of the VM next
// to it. Within one delivery, each resource is read from ARM once.
type readCacheKey struct{}

type readCache struct {
	mu    sync.Mutex
	m     map[string]readResult
	lists map[string][]*Resource // list.go
}

type readResult struct {
	res *Resource
	err error
}

func withReadCache(ctx context.Context) context.Context {
	if _, ok := ctx.Value(readCacheKey{}).(*readCache); ok {
		return ctx
	}
	return context.WithValue(ctx, readCacheKey{}, &readCache{m: map[string]readResult{}})
}

// readARM reads through the delivery's cache. Only answers are cached (a
// resource or not found), never failures, which are retried.
func (p *Pipeline) readARM(ctx context.Context, id string) (*Resource, error) {
	c, _ := ctx.Value(readCacheKey{}).(*readCache)
	if c != nil {
		c.mu.Lock()
		r, ok := c.m[IDKey(id)]
		c.mu.Unlock()
		if ok {
			return r.res, r.err
		}
	}
	res, err := p.Reader.ReadResource(ctx, id)
	if c != nil && (err == nil || isNotFound(err)) {
		c.mu.Lock()
		c.m[IDKey(id)] = readResult{res, err}
		c.mu.Unlock()
	}
	return res, err
}
