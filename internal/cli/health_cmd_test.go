package cli

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// exportguard health is the container's HEALTHCHECK: 2xx is healthy, anything
// else (or nothing listening) is not, and it asks loopback only.
func TestHealthCommand(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/health":
			w.Write([]byte(`{"status":"ok"}`))
		case "/api/down":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"status":"unavailable"}`))
		default:
			http.Redirect(w, r, "/api/health", http.StatusFound)
		}
	}))
	t.Cleanup(srv.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tc := range []struct {
		name, url, wantOut, wantErr string
	}{
		{"healthy", srv.URL + "/api/health", `{"status":"ok"}`, ""},
		{"unavailable", srv.URL + "/api/down", "", "503"},
		{"redirect is not health", srv.URL + "/elsewhere", "", "302"},
		{"nothing listening", closed.URL + "/api/health", "", "asking"},
		{"not loopback", "http://192.0.2.1/api/health", "", "not an http(s) URL on loopback"},
		{"not http", "file:///etc/passwd", "", "not an http(s) URL on loopback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, _, err := run(t, "health", "--url", tc.url)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("health: %v", err)
				}
				if !strings.Contains(out, tc.wantOut) {
					t.Errorf("stdout %q, want %q", out, tc.wantOut)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want one saying %q", err, tc.wantErr)
			}
		})
	}
}
