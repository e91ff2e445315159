package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/exportguard/exportguard/internal/retry"
	"github.com/exportguard/exportguard/pkg/guard"
)

// Body is a rendered request body.
type Body struct {
	Data        []byte
	ContentType string
}

// Renderer renders one message; id is the outbox item's ID (stable per
// transition and target, for receivers that deduplicate).
type Renderer func(id string, m Message) (Body, error)

// DigestRenderer renders several messages as one (a burst folded into a
// digest); id is the ID of the first.
type DigestRenderer func(id string, ms []Message) (Body, error)

// ResponseCheck looks at a 2xx answer for a failure the status does not show
// (Teams' connectors answer a throttled request with 200 and say so in the
// body) and returns the status the answer means: status itself when the
// message was taken.
type ResponseCheck func(status int, body []byte) int

// Limits shape the requests to one target.
type Limits struct {
	// Burst requests may go at once on the dispatcher's clock, and one more
	// every Every. At least 1 and 1s when zero.
	Burst int
	Every time.Duration
	// Spacing is the least wall-clock time between two requests, which also
	// holds when the dispatcher's clock is a replayed one.
	Spacing time.Duration
	// MaxDigest is the most messages folded into one digest; below 2, or
	// without a DigestRenderer, nothing is folded.
	MaxDigest int
}

// TestOptions exist for tests only; production code leaves them zero.
type TestOptions struct {
	// AllowLoopbackHTTP accepts a plain http:// URL to a loopback address (a
	// test server). Every other URL must be https either way.
	AllowLoopbackHTTP bool
	// Wall replaces the wall clock and Sleep the waiting that Limits.Spacing
	// asks for.
	Wall  func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// SenderConfig configures a Sender for one target.
type SenderConfig struct {
	Target       string // the name errors and logs use: teams, slack, webhook
	Kind         string // the outbox kind it delivers
	URL          string // the secret: kept inside the Sender only
	Render       Renderer
	RenderDigest DigestRenderer // nil: no digests
	Check        ResponseCheck  // nil: any 2xx is delivered
	Limits       Limits
	// Ledger remembers delivered item IDs (in the store's ledger), so that an
	// item planned again is not sent again; Outbox is where the messages a
	// digest folds in are found. Both optional.
	Ledger  guard.Ledger
	Outbox  guard.Outbox
	Client  *http.Client // nil: a client with a 30s timeout that follows no redirect
	Log     *slog.Logger
	Testing TestOptions
}

// Sender delivers one target's outbox items (a guard.Sender).
type Sender struct {
	target, kind string
	url          string
	red          redactor
	render       Renderer
	digest       DigestRenderer
	check        ResponseCheck
	limits       Limits
	ledger       guard.Ledger
	outbox       guard.Outbox
	lease        time.Duration // of a folded item's claim (SetLease)
	client       *http.Client
	log          *slog.Logger
	wall         func() time.Time
	sleep        func(context.Context, time.Duration) error

	mu           sync.Mutex
	tokens       float64
	last         time.Time       // the bucket's clock at the last refill
	lastWall     time.Time       // the wall clock then
	blockedUntil time.Time       // dispatcher clock: the target asked to wait (429)
	lastPost     time.Time       // wall clock
	sent         map[string]bool // items this Sender delivered
	due          []sibling       // items of its kind due at dueAt
	dueAt        time.Time
}

var _ guard.Sender = (*Sender)(nil)

// NewSender checks the URL (https; see TestOptions) and returns a Sender. The
// errors name the target, never the URL.
func NewSender(c SenderConfig) (*Sender, error) {
	if c.Target == "" || c.Kind == "" || c.Render == nil {
		return nil, errors.New("notify: a sender needs a target name, a kind and a renderer")
	}
	u, err := checkURL(c.URL, c.Testing.AllowLoopbackHTTP)
	if err != nil {
		return nil, fmt.Errorf("notify.%s.url: %v", c.Target, err)
	}
	s := &Sender{target: c.Target, kind: c.Kind, url: u.String(), red: newRedactor(u), render: c.Render,
		digest: c.RenderDigest, check: c.Check, limits: c.Limits, ledger: c.Ledger, outbox: c.Outbox,
		client: c.Client, log: c.Log, wall: c.Testing.Wall, sleep: c.Testing.Sleep}
	if s.limits.Burst < 1 {
		s.limits.Burst = 1
	}
	if s.limits.Every <= 0 {
		s.limits.Every = time.Second
	}
	if s.limits.MaxDigest < 2 {
		s.digest = nil
	}
	s.tokens = float64(s.limits.Burst)
	s.sent = map[string]bool{}
	if s.client == nil {
		s.client = &http.Client{Timeout: 30 * time.Second,
			// Only the configured URL is ever called: a redirect is an answer, not a hop.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.wall == nil {
		s.wall = time.Now
	}
	if s.sleep == nil {
		s.sleep = retry.Sleep
	}
	return s, nil
}

// Target is the target's name (teams, slack, webhook).
func (s *Sender) Target() string { return s.target }

// Kind is the outbox kind the Sender delivers.
func (s *Sender) Kind() string { return s.kind }

// String names the target only: a Sender printed or logged shows no URL.
func (s *Sender) String() string { return "notify sender " + s.target }

// GoString is String, for %#v.
func (s *Sender) GoString() string { return s.String() }

// LogValue is the target's name, for slog.
func (s *Sender) LogValue() slog.Value { return slog.StringValue(s.target) }

// sentKey is the ledger key of a delivered item.
func sentKey(id string) string { return "notify.sent:" + id }

// MaxWait is the longest a Sender waits for its turn under its limits before
// it puts an item back (with a RetryAfter) instead.
const MaxWait = 5 * time.Second

// Send delivers one item: alone, or folded into a digest with the other items
// due for this target when they outnumber the requests the limits allow now.
func (s *Sender) Send(ctx context.Context, it guard.OutboxItem, now time.Time) error {
	if it.Kind != s.kind {
		return guard.Permanent(fmt.Errorf("%s: item %s is of kind %q, not %q", s.target, it.ID, it.Kind, s.kind))
	}
	m, err := DecodeMessage(it.Payload)
	if err != nil {
		return guard.Permanent(fmt.Errorf("%s: item %s: %w", s.target, it.ID, err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if done, err := s.delivered(ctx, it.Partition, it.ID); err != nil {
		return err
	} else if done {
		s.log.Debug("notification already delivered", "target", s.target, "itemId", it.ID)
		return nil
	}
	if now.Before(s.blockedUntil) {
		wait := s.blockedUntil.Sub(now)
		return guard.RetryAfter(fmt.Errorf("%s: not sent: the target asked to wait until %s", s.target, s.blockedUntil.UTC().Format(time.RFC3339)), wait)
	}
	if err := s.takeTurn(ctx, now); err != nil {
		return err
	}
	ids, parts, msgs := []string{it.ID}, []string{it.Partition}, []Message{m}
	var more []sibling
	if s.digest != nil && s.outbox != nil {
		more, err = s.foldable(ctx, it.ID, now)
		if err != nil {
			return err
		}
		for _, o := range more {
			ids, parts, msgs = append(ids, o.id), append(parts, o.partition), append(msgs, o.m)
		}
	}
	var body Body
	if len(msgs) > 1 {
		body, err = s.digest(it.ID, msgs)
	} else {
		body, err = s.render(it.ID, m)
	}
	if err != nil {
		s.settleFolded(ctx, more, false)
		return guard.Permanent(fmt.Errorf("%s: render item %s: %w", s.target, it.ID, err))
	}
	s.tokens--
	status, err := s.post(ctx, body, now)
	if err != nil {
		s.settleFolded(ctx, more, false)
		return err
	}
	for i, id := range ids {
		s.sent[id] = true
		if s.ledger == nil {
			continue
		}
		// Kept in the item's partition, beside the item (DESIGN 6).
		if err := s.ledger.MarkProcessed(ctx, parts[i], sentKey(id), now); err != nil {
			// Delivered all the same: failing the item would send it twice.
			s.log.Warn("notification delivered but not remembered", "target", s.target, "itemId", id, "error", err.Error())
		}
	}
	s.settleFolded(ctx, more, true)
	s.log.Info("notification delivered", "target", s.target, "itemId", it.ID, "event", m.Event, "findingId", m.Finding.ID,
		"messages", len(msgs), "status", status)
	return nil
}

// Deliver posts one message now, outside the outbox and its limits (for
// "exportguard notify test"): the HTTP status, or an error naming the target.
func (s *Sender) Deliver(ctx context.Context, id string, m Message) (int, error) {
	body, err := s.render(id, m)
	if err != nil {
		return 0, fmt.Errorf("%s: render: %w", s.target, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.post(ctx, body, s.wall())
}

func (s *Sender) delivered(ctx context.Context, partition, id string) (bool, error) {
	if s.sent[id] {
		return true, nil
	}
	if s.ledger == nil {
		return false, nil
	}
	done, err := s.ledger.Processed(ctx, partition, sentKey(id))
	if err != nil {
		return false, fmt.Errorf("%s: look up delivered item %s: %w", s.target, id, err)
	}
	return done, nil
}

// takeTurn waits until the limits allow a request: at most MaxWait, else the
// item is put back until the next turn.
func (s *Sender) takeTurn(ctx context.Context, now time.Time) error {
	s.refill(now)
	if s.tokens >= 1 {
		return nil
	}
	wait := time.Duration((1 - s.tokens) * float64(s.limits.Every))
	if wait > MaxWait {
		return guard.RetryAfter(fmt.Errorf("%s: not sent yet: at most %d request(s) at once and one more every %s", s.target, s.limits.Burst, s.limits.Every), wait)
	}
	if err := s.sleep(ctx, wait); err != nil {
		return fmt.Errorf("%s: not sent: %w", s.target, err)
	}
	// The wait earned the token, whatever the wall clock says (a test's).
	s.tokens, s.last, s.lastWall = 1, s.last.Add(wait), s.wall()
	return nil
}

// refill adds the tokens earned since the last refill. The bucket's clock is
// the dispatcher's, moved on by the wall-clock time spent since (so that it
// also runs within one dispatcher run, whose clock stands still, and never
// runs back).
//
// Why not golang.org/x/time/rate (issue 17): a rate.Limiter takes explicit
// times, but it would hold only the token count. This clock (the dispatcher's,
// moved on by wall time, never back) stays here either way, as do the two
// writes the Limiter has no call for: a 429 drains the bucket to 0, and a
// finished wait leaves exactly 1 token (a Limiter would have to be made anew
// for each). And it counts tokens in other arithmetic (elapsed.Seconds() times
// 1/Every.Seconds(), against elapsed/Every in nanoseconds here), which differs
// in the last bit for 3-27% of elapsed times at the shipped limits; at a whole
// token that flips tokens >= 1 and int(tokens), on which folding a burst into a
// digest depends: a bucket emptied and refilled by 598.140041ms + 1.859959ms
// at one per 200ms holds 3 here and 2.9999999999999996 there. Same behaviour
// was the condition for the change, so the bucket stays.
func (s *Sender) refill(now time.Time) {
	wall := s.wall()
	if s.last.IsZero() {
		s.last, s.lastWall = now, wall
		return
	}
	t := s.last.Add(max(wall.Sub(s.lastWall), 0))
	if now.After(t) {
		t = now
	}
	s.tokens = min(float64(s.limits.Burst), s.tokens+float64(t.Sub(s.last))/float64(s.limits.Every))
	s.last, s.lastWall = t, wall
}

type sibling struct {
	id, partition string
	due           time.Time // its NextAttempt when listed, for the claim
	m             Message
}

// foldable returns the other items to fold into this request: when more items
// of this kind are due than requests are allowed now, the next ones due, up to
// MaxDigest in all; else none. The due items are read once per dispatcher run.
func (s *Sender) foldable(ctx context.Context, self string, now time.Time) ([]sibling, error) {
	if !s.dueAt.Equal(now) || s.due == nil {
		items, err := s.outbox.DueItems(ctx, now, 100)
		if err != nil {
			return nil, fmt.Errorf("%s: list due items: %w", s.target, err)
		}
		s.due, s.dueAt = []sibling{}, now
		if s.ledger != nil && len(s.sent) > 1000 {
			s.sent = map[string]bool{} // the ledger remembers them
		}
		for _, o := range items {
			if o.Kind != s.kind || o.Failed {
				continue
			}
			m, err := DecodeMessage(o.Payload)
			if err != nil {
				continue // fails on its own turn, with its reason
			}
			s.due = append(s.due, sibling{o.ID, o.Partition, o.NextAttempt, m})
		}
	}
	var others []sibling
	for _, o := range s.due {
		if o.id != self && !s.sent[o.id] {
			others = append(others, o)
		}
	}
	if len(others) == 0 || 1+len(others) <= int(s.tokens) {
		return nil, nil
	}
	var out []sibling
	for _, o := range others {
		if len(out) == s.limits.MaxDigest-1 {
			break
		}
		done, err := s.delivered(ctx, o.partition, o.id)
		if err != nil {
			return nil, err
		}
		if done {
			continue
		}
		if s.lease < 0 { // nothing is claimed (guard.Dispatcher.Lease)
			out = append(out, o)
			continue
		}
		// Claimed as the dispatcher claims the item it sends (guard.Outbox.Claim),
		// so that another instance does not send it alone while it is in this
		// digest; one another instance holds, or that has changed, is left out.
		claimed, err := s.outbox.Claim(ctx, o.partition, o.id, o.due, now.Add(s.leaseOrDefault()))
		if err != nil {
			return nil, fmt.Errorf("%s: claim %s: %w", s.target, o.id, err)
		}
		if claimed {
			o.due = now.Add(s.leaseOrDefault()) // what a give-back compares against
			out = append(out, o)
		}
	}
	return out, nil
}

// settleFolded completes the items folded into a digest once it is taken (they
// are delivered; their own turn in the dispatcher finds them gone), or gives
// their claims back when it is not, so that each is due again as it was.
func (s *Sender) settleFolded(ctx context.Context, more []sibling, delivered bool) {
	if s.lease < 0 {
		return // not claimed: each is completed on its own turn, which finds it delivered
	}
	for _, o := range more {
		var err error
		if delivered {
			err = s.outbox.Complete(ctx, o.partition, o.id)
		} else {
			_, err = s.outbox.Claim(ctx, o.partition, o.id, o.due, s.listedDue(o.id))
		}
		if err != nil { // the lease runs out, and the ledger keeps it from being sent twice
			s.log.Warn("folded notification not settled", "target", s.target, "itemId", o.id, "error", err.Error())
		}
	}
}

// SetLease sets how long an item folded into a digest is claimed for, as the
// dispatcher's Lease (guard.DefaultLease when not set; negative: not claimed).
func (s *Sender) SetLease(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lease = d
}

func (s *Sender) leaseOrDefault() time.Duration {
	if s.lease > 0 {
		return s.lease
	}
	return guard.DefaultLease
}

// Folded reports whether the item was delivered folded into a digest (or
// sent) by this Sender (guard.Folder).
func (s *Sender) Folded(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent[id]
}

// listedDue is the NextAttempt an item had when foldable listed it.
func (s *Sender) listedDue(id string) time.Time {
	for _, o := range s.due {
		if o.id == id {
			return o.due
		}
	}
	return time.Time{}
}

// maxAnswer bounds what is read of a target's answer.
const maxAnswer = 4 << 10

// post sends a body to the URL and turns the answer into nil (taken), a
// retryable error (429, 5xx, no answer: with the wait a Retry-After asks for),
// or a permanent one (a redirect, another 4xx).
func (s *Sender) post(ctx context.Context, body Body, now time.Time) (int, error) {
	if s.limits.Spacing > 0 && !s.lastPost.IsZero() {
		if gap := s.limits.Spacing - s.wall().Sub(s.lastPost); gap > 0 {
			if err := s.sleep(ctx, gap); err != nil {
				return 0, fmt.Errorf("%s: not sent: %w", s.target, err)
			}
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body.Data))
	if err != nil {
		return 0, guard.Permanent(fmt.Errorf("%s: build request: %s", s.target, s.red.scrub(err.Error())))
	}
	req.Header.Set("Content-Type", body.ContentType)
	req.Header.Set("User-Agent", "exportguard")
	resp, err := s.client.Do(req)
	s.lastPost = s.wall()
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the same without the method and URL
		}
		return 0, fmt.Errorf("%s: no answer: %s", s.target, s.red.scrub(err.Error()))
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	st, eff := resp.StatusCode, resp.StatusCode
	if s.check != nil && st >= 200 && st < 300 {
		eff = s.check(st, answer)
	}
	code := fmt.Sprintf("HTTP %d %s", st, http.StatusText(st))
	if eff != st {
		code = fmt.Sprintf("HTTP %d, reporting %d %s", st, eff, http.StatusText(eff))
	}
	switch {
	case eff >= 200 && eff < 300:
		return st, nil
	case eff == http.StatusTooManyRequests || eff >= 500:
		e := fmt.Errorf("%s: %s%s", s.target, code, s.snippet(answer))
		ra, _ := retry.ParseRetryAfter(resp.Header, s.wall(), maxRetryAfter)
		if eff == http.StatusTooManyRequests {
			// No other item goes to this target before it said it may.
			s.blockedUntil = now.Add(max(ra, s.limits.Every))
			s.tokens = 0
		}
		if ra > 0 {
			return st, guard.RetryAfter(e, ra)
		}
		return st, e
	case eff >= 300 && eff < 400:
		return st, guard.Permanent(fmt.Errorf("%s: %s: a redirect is not followed (only the configured URL is called)", s.target, code))
	}
	return st, guard.Permanent(fmt.Errorf("%s: %s%s", s.target, code, s.snippet(answer)))
}

// snippet is the start of a target's answer, scrubbed of the URL.
func (s *Sender) snippet(answer []byte) string {
	t := strings.Join(strings.Fields(string(answer)), " ")
	if t == "" {
		return ""
	}
	return ": " + truncate(s.red.scrub(t), 200)
}

// maxRetryAfter bounds the wait a target's Retry-After asks for.
const maxRetryAfter = 24 * time.Hour
