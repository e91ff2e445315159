package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/session"
)

// ARM answers resource reads from a session's arm lines at the replay clock: the
// latest line observed at or before the clock, 404 when that line says the
// resource was deleted, and guard.ErrUnknown when there is none (DESIGN 3.2): a
// session that never saw a resource does not know it is gone, so replaying it
// into a store that holds other resources leaves them as they are.
type ARM struct {
	mu     sync.Mutex
	byID   map[string][]observation
	clock  func() time.Time
	writes []Write // what remediation wrote (write.go)
}

type observation struct {
	at      time.Time
	body    json.RawMessage
	deleted bool
}

// NewARM returns an empty ARM answering at the time clock gives.
func NewARM(clock func() time.Time) *ARM {
	return &ARM{byID: map[string][]observation{}, clock: clock}
}

// Observe records an arm line.
func (a *ARM) Observe(l session.Line) {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := guard.IDKey(l.ID)
	obs := append(a.byID[key], observation{at: l.At, body: l.Body, deleted: l.Deleted})
	sort.SliceStable(obs, func(i, j int) bool { return obs[i].at.Before(obs[j].at) })
	a.byID[key] = obs
}

// checkID refuses, as ARM in Azure does (package resourcemanager), an ID that could be read
// two ways: never read, never written, never a 404 (DESIGN 3.6).
func checkID(method, id string) error {
	if err := guard.CheckResourceID(id); err != nil {
		return fmt.Errorf("%s: %w: %w", method, err, guard.ErrUnsupported)
	}
	return nil
}

// ReadResource implements guard.ResourceReader.
func (a *ARM) ReadResource(_ context.Context, id string) (*guard.Resource, error) {
	if err := checkID(http.MethodGet, id); err != nil {
		return nil, err
	}
	now := a.clock()
	a.mu.Lock()
	obs := a.byID[guard.IDKey(id)]
	a.mu.Unlock()
	i := sort.Search(len(obs), func(i int) bool { return obs[i].at.After(now) }) - 1
	switch {
	case i < 0:
		return nil, fmt.Errorf("GET %s at %s: no arm line at or before it: %w", id, now.Format(time.RFC3339), guard.ErrUnknown)
	case obs[i].deleted:
		return nil, fmt.Errorf("GET %s at %s: %w", id, now.Format(time.RFC3339), guard.ErrNotFound)
	}
	res, err := guard.NewResource(obs[i].body, obs[i].at)
	if err != nil {
		return nil, fmt.Errorf("GET %s: recorded body: %w", id, err)
	}
	return res, nil
}
