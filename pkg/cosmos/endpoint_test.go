package cosmos

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url     string
		want    Options // Endpoint, Database, EnsureContainers
		wantErr string  // part of the error; "" for none
	}{
		{url: "https://acct.documents.azure.com:443/?database=eg",
			want: Options{Endpoint: "https://acct.documents.azure.com:443/", Database: "eg"}},
		{url: "https://acct.documents.azure.us/?database=eg&ensureContainers=true",
			want: Options{Endpoint: "https://acct.documents.azure.us/", Database: "eg", EnsureContainers: true}},
		{url: "http://127.0.0.1:8081/?database=eg", want: Options{Endpoint: "http://127.0.0.1:8081/", Database: "eg"}},
		{url: "http://127.8.9.10:3000/?database=eg", want: Options{Endpoint: "http://127.8.9.10:3000/", Database: "eg"}},
		{url: "http://[::1]:3000/?database=eg", want: Options{Endpoint: "http://[::1]:3000/", Database: "eg"}},
		{url: "http://localhost:3000?database=eg&ensureContainers=false",
			want: Options{Endpoint: "http://localhost:3000", Database: "eg"}},
		{url: "http://LocalHost:3000/?database=eg", want: Options{Endpoint: "http://LocalHost:3000/", Database: "eg"}},

		{url: "http://10.0.0.4:8081/?database=eg", wantErr: "plain http is allowed only to a loopback host"},
		{url: "http://acct.documents.azure.com/?database=eg", wantErr: "plain http is allowed only to a loopback host"},
		{url: "http://localhost.example.com/?database=eg", wantErr: "plain http is allowed only to a loopback host"},
		{url: "http://127.0.0.1.nip.io/?database=eg", wantErr: "plain http is allowed only to a loopback host"},
		{url: "http://[::ffff:10.0.0.1]/?database=eg", wantErr: "plain http is allowed only to a loopback host"},
		{url: "http://0.0.0.0:3000/?database=eg", wantErr: "plain http is allowed only to a loopback host"},
		{url: "ftp://127.0.0.1/?database=eg", wantErr: `scheme "ftp"`},
		{url: "acct.documents.azure.com?database=eg", wantErr: "not an absolute URL"},
		{url: "https://acct.documents.azure.com/dbs/eg?database=eg", wantErr: "no path or query"},
		{url: "https://u:p@acct.documents.azure.com/?database=eg", wantErr: "user information"},
		{url: "https://acct.documents.azure.com/", wantErr: "database: no name"},
		{url: "https://acct.documents.azure.com/?database=a/b", wantErr: "no / \\ ? #"},
		{url: "https://acct.documents.azure.com/?database=eg&key=c2VjcmV0", wantErr: "COSMOS_KEY, never in the URL"},
		{url: "https://acct.documents.azure.com/?database=eg&accountKey=x", wantErr: "COSMOS_KEY, never in the URL"},
		{url: "https://acct.documents.azure.com/?database=eg&db=x", wantErr: `unknown parameter "db"`},
		{url: "https://acct.documents.azure.com/?database=eg&ensureContainers=yes", wantErr: "want true or false"},
	} {
		got, err := ParseURL(tc.url)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("ParseURL(%q): %v", tc.url, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParseURL(%q): got error %v, want one saying %q", tc.url, err, tc.wantErr)
		case tc.wantErr == "" && (got.Endpoint != tc.want.Endpoint || got.Database != tc.want.Database ||
			got.EnsureContainers != tc.want.EnsureContainers):
			t.Errorf("ParseURL(%q): got %q %q %v, want %q %q %v", tc.url, got.Endpoint, got.Database,
				got.EnsureContainers, tc.want.Endpoint, tc.want.Database, tc.want.EnsureContainers)
		}
		if err != nil && strings.Contains(err.Error(), "c2VjcmV0") {
			t.Errorf("ParseURL(%q): the error shows the query: %v", tc.url, err)
		}
	}
}

// TestOpenChecksTheEndpoint: Open applies the rules too, and refuses plain
// http without a key (an Entra ID token must not travel in the clear).
func TestOpenChecksTheEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name    string
		o       Options
		wantErr string
	}{
		{"http to another host", Options{Endpoint: "http://192.168.1.10:8081/", Database: "eg", Key: testKey},
			"only to a loopback host"},
		{"http without a key", Options{Endpoint: "http://127.0.0.1:8081/", Database: "eg"}, "needs an account key"},
		{"no endpoint", Options{Database: "eg", Key: testKey}, "no endpoint"},
		{"no database", Options{Endpoint: "https://acct.documents.azure.com/", Key: testKey}, "database: no name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), tc.o)
			if err == nil {
				s.Close()
				t.Fatalf("Open: got no error, want one saying %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Open: got %v, want it to say %q", err, tc.wantErr)
			}
		})
	}
}

// TestTLSVerificationStaysOn: a server whose certificate no one trusts is
// refused; nothing in the store switches verification off.
func TestTLSVerificationStaysOn(t *testing.T) {
	var served int
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served++ }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes it refuses
	srv.StartTLS()
	defer srv.Close()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, Options{Endpoint: srv.URL + "/", Database: "eg", Key: testKey})
	if err == nil {
		s.Close()
		t.Fatal("Open against an untrusted certificate: got no error")
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Open against an untrusted certificate: got %v, want a certificate error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Open took %v to give up on a certificate that cannot verify, want no retries", d)
	}
	if served != 0 {
		t.Errorf("the server answered %d requests, want none", served)
	}
}
