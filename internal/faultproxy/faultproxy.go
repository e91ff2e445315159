// Package faultproxy is a loopback reverse proxy for tests: it stands in front
// of a real server (the local Cosmos DB server) and, while a fault is in
// force, answers the requests it matches itself, with an error status (429
// with x-ms-retry-after-ms, 503), instead of passing them on. Everything else
// passes through untouched (net/http/httputil).
//
// A fault lasts for a number of matching requests, or for a stretch of wall
// clock, or until it is lifted; it may hit every request it matches or every
// n-th. The proxy counts what it passed and what it answered itself.
package faultproxy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fault is an answer the proxy gives in place of the server's.
type Fault struct {
	Status int // e.g. 429 or 503
	// RetryAfter, when set, goes in x-ms-retry-after-ms (Cosmos DB's header,
	// which azcore's retry policy waits out) and, rounded up to seconds, in
	// Retry-After.
	RetryAfter time.Duration
	// Match selects the requests the fault hits; nil hits every request.
	Match func(*http.Request) bool
	// Every hits one matching request in Every (1 or 0: each one).
	Every int
	// Count ends the fault after it has answered this many requests; For
	// ends it that long after it came into force. Zero for both: until Lift.
	Count int
	For   time.Duration
}

// Docs matches the requests on documents: reads, writes, queries (paths with
// /docs), not the account, database and container requests a client makes
// when it opens.
func Docs(r *http.Request) bool { return strings.Contains(r.URL.Path, "/docs") }

// Proxy is a running proxy.
type Proxy struct {
	// URL is its root, http://127.0.0.1:PORT/.
	URL string
	srv *httptest.Server

	mu       sync.Mutex
	faults   []Fault   // in force, then the ones to come
	since    time.Time // when faults[0] came into force
	seen     int       // requests faults[0] matched
	answered int       // requests faults[0] answered
	passed   int
	byStatus map[int]int
}

// Start starts a proxy to target (http://HOST:PORT/) on a free loopback
// port; it is closed when the test ends.
func Start(tb testing.TB, target string) *Proxy {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		tb.Fatalf("faultproxy: target %q: want http://HOST:PORT/", target)
	}
	p := &Proxy{byStatus: map[int]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error { return p.rewriteAccount(resp, u) }
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f, ok := p.hit(r); ok {
			answer(w, r, f)
			return
		}
		p.mu.Lock()
		p.passed++
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("faultproxy: listen: %v", err)
	}
	p.srv.Listener = ln
	p.srv.Start()
	p.URL = p.srv.URL + "/"
	tb.Cleanup(p.srv.Close)
	return p
}

// Set puts faults in force, one after the other (each when the one before
// it ends), replacing any in force.
func (p *Proxy) Set(faults ...Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults, p.since, p.seen, p.answered = faults, time.Now(), 0, 0
}

// Lift ends every fault.
func (p *Proxy) Lift() { p.Set() }

// Active reports whether a fault is in force.
func (p *Proxy) Active() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.currentLocked(time.Now()) != nil
}

// currentLocked returns the fault in force at now, moving on past those that
// have ended.
func (p *Proxy) currentLocked(now time.Time) *Fault {
	for len(p.faults) > 0 {
		f := &p.faults[0]
		if f.For > 0 && now.Sub(p.since) >= f.For || f.Count > 0 && p.answered >= f.Count {
			p.faults, p.since, p.seen, p.answered = p.faults[1:], now, 0, 0
			continue
		}
		return f
	}
	return nil
}

// Stats is what the proxy did: requests passed to the server, and those it
// answered itself, by status.
type Stats struct {
	Passed   int
	Answered map[int]int
}

func (s Stats) String() string {
	var parts []string
	for status, n := range s.Answered {
		parts = append(parts, fmt.Sprintf("%d answered %d", n, status))
	}
	return fmt.Sprintf("%d passed; %s", s.Passed, strings.Join(parts, ", "))
}

// Stats returns the counts so far.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := Stats{Passed: p.passed, Answered: map[int]int{}}
	for k, v := range p.byStatus {
		out.Answered[k] = v
	}
	return out
}

// rewriteAccount makes the account document (GET /) name the proxy where it
// names the server: a Cosmos DB client sends reads to the account's readable
// locations, which would take them past the proxy. (The local server also
// names itself https:// though it serves http; the proxy names itself as it
// is.)
func (p *Proxy) rewriteAccount(resp *http.Response, target *url.URL) error {
	if resp.Request == nil || resp.Request.URL.Path != "/" || resp.Request.Method != http.MethodGet {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return err
	}
	for _, scheme := range []string{"https://", "http://"} {
		body = bytes.ReplaceAll(body, []byte(scheme+target.Host+"/"), []byte(p.URL))
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// hit decides whether the fault in force answers r.
func (p *Proxy) hit(r *http.Request) (Fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cur := p.currentLocked(time.Now())
	if cur == nil {
		return Fault{}, false
	}
	f := *cur
	if f.Match != nil && !f.Match(r) {
		return Fault{}, false
	}
	p.seen++
	if f.Every > 1 && p.seen%f.Every != 0 {
		return Fault{}, false
	}
	p.answered++
	p.byStatus[f.Status]++
	return f, true
}

// answer writes the fault as the Cosmos DB Gateway would: a JSON body with a
// code and a message.
func answer(w http.ResponseWriter, r *http.Request, f Fault) {
	if r.Body != nil {
		r.Body.Close()
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if f.RetryAfter > 0 {
		h.Set("x-ms-retry-after-ms", strconv.FormatInt(f.RetryAfter.Milliseconds(), 10))
		h.Set("Retry-After", strconv.FormatInt(int64((f.RetryAfter+time.Second-1)/time.Second), 10))
	}
	code := map[int]string{http.StatusTooManyRequests: "TooManyRequests", http.StatusServiceUnavailable: "ServiceUnavailable"}[f.Status]
	if code == "" {
		code = strings.ReplaceAll(http.StatusText(f.Status), " ", "")
	}
	w.WriteHeader(f.Status)
	fmt.Fprintf(w, `{"code":%q,"message":"faultproxy: %d %s"}`, code, f.Status, http.StatusText(f.Status))
}
