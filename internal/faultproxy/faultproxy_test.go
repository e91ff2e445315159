package faultproxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/exportguard/exportguard/internal/faultproxy"
)

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestFaultsInTurnThenPassThrough(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "server "+r.URL.Path)
	}))
	defer backend.Close()
	p := faultproxy.Start(t, backend.URL+"/")

	p.Set(
		faultproxy.Fault{Status: 429, RetryAfter: 1500 * time.Millisecond, Match: faultproxy.Docs, Every: 2, Count: 2},
		faultproxy.Fault{Status: 503, For: 150 * time.Millisecond},
	)
	var got []int
	for _, path := range []string{"dbs/x/colls/y/docs/1", "dbs/x", "dbs/x/colls/y/docs/2", "dbs/x/colls/y/docs/3", "dbs/x/colls/y/docs/4"} {
		code, h, body := get(t, p.URL+path)
		got = append(got, code)
		if code == 429 && (h.Get("x-ms-retry-after-ms") != "1500" || h.Get("Retry-After") != "2" || body == "") {
			t.Errorf("429 answer: headers %v, body %q", h, body)
		}
		if code == 200 && body != "server /"+path {
			t.Errorf("passed through: %q", body)
		}
	}
	// Every second docs request, twice: 1 passes, (dbs/x is no docs request), 2 is hit, 3 passes, 4 is hit.
	if want := []int{200, 200, 429, 200, 429}; !equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	if code, _, _ := get(t, p.URL+"dbs/x"); code != 503 || !p.Active() {
		t.Errorf("after the 429s: %d (active %v), want the 503 outage", code, p.Active())
	}
	time.Sleep(200 * time.Millisecond)
	if code, _, _ := get(t, p.URL+"dbs/x"); code != 200 || p.Active() {
		t.Errorf("after the outage: %d (active %v), want passed through", code, p.Active())
	}
	s := p.Stats()
	if s.Passed != 4 || s.Answered[429] != 2 || s.Answered[503] != 1 {
		t.Errorf("stats: %v", s)
	}
	p.Set(faultproxy.Fault{Status: 503})
	if code, _, _ := get(t, p.URL+"a"); code != 503 {
		t.Errorf("until lifted: %d", code)
	}
	p.Lift()
	if code, _, _ := get(t, p.URL+"a"); code != 200 {
		t.Errorf("lifted: %d", code)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
