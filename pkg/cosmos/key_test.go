package cosmos

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
)

// secretKey is a well-formed key whose text is easy to find, and the part of
// it a leak would show.
var secretKey = AccountKey(base64.StdEncoding.EncodeToString([]byte("exportguard-test-secret-key-0123456789")))

func leaks(s string) bool {
	return strings.Contains(s, string(secretKey)) || strings.Contains(s, string(secretKey)[:16])
}

// TestKeyNeverShowsInFormatting: an Options value printed, logged or marshalled
// shows "[redacted]" for the key.
func TestKeyNeverShowsInFormatting(t *testing.T) {
	o := Options{Endpoint: "https://acct.documents.azure.com/", Database: "eg", Key: secretKey}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("open", "options", o, "key", o.Key)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("open", "key", o.Key)
	j, _ := json.Marshal(struct{ Key AccountKey }{o.Key})
	for what, s := range map[string]string{
		"%v": fmt.Sprintf("%v", o), "%+v": fmt.Sprintf("%+v", o), "%#v": fmt.Sprintf("%#v", o),
		"%s %q %x": fmt.Sprintf("%s %q %x", o.Key, o.Key, o.Key), "slog": logged.String(), "json": string(j),
	} {
		if leaks(s) {
			t.Errorf("%s shows the key: %s", what, s)
		}
		if !strings.Contains(s, "[redacted]") {
			t.Errorf("%s: got %s, want [redacted] in place of the key", what, s)
		}
	}
}

// TestKeyNeverShowsInErrorsOrLogs: failures of Open, and the SDK's own logs of
// a session with the server, never show the key.
func TestKeyNeverShowsInErrorsOrLogs(t *testing.T) {
	var mu sync.Mutex
	var sdkLog strings.Builder
	azlog.SetListener(func(_ azlog.Event, msg string) {
		mu.Lock()
		defer mu.Unlock()
		sdkLog.WriteString(msg + "\n")
	})
	defer azlog.SetListener(nil)

	closed, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	noRetries := clientOptions(nil)
	noRetries.Retry.MaxRetries = -1
	for _, o := range []Options{
		{Endpoint: "http://10.1.2.3/", Database: "eg", Key: secretKey},
		{Endpoint: fmt.Sprintf("http://127.0.0.1:%d/", closed), Database: "eg", Key: secretKey, ClientOptions: noRetries},
		{Endpoint: server(t), Database: "eg", Key: AccountKey("not base64: " + string(secretKey))},
		{Endpoint: server(t), Database: "no-such-database", Key: secretKey},
	} {
		s, err := Open(t.Context(), o)
		if err == nil {
			s.Close()
			t.Errorf("Open(%s, %s): got no error, want one", o.Endpoint, o.Database)
			continue
		}
		if leaks(err.Error()) {
			t.Errorf("Open(%s, %s) error shows the key: %v", o.Endpoint, o.Database, err)
		}
	}

	o := testOptions(t, newDatabaseName())
	o.Key = secretKey
	s := openWith(t, o)
	if err := s.MarkProcessed(t.Context(), testPartition, "k", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetFinding(t.Context(), "absent"); err == nil || leaks(err.Error()) {
		t.Errorf("GetFinding of an absent finding: got %v, want an error without the key", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if sdkLog.Len() == 0 {
		t.Fatal("the SDK logged nothing: the test proves nothing")
	}
	if leaks(sdkLog.String()) {
		t.Errorf("the SDK's log shows the key:\n%s", sdkLog.String())
	}
}
