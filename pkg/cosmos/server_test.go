package cosmos

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/exportguard/exportguard/pkg/cosmos/cosmostest"
)

// The tests run against @vercel/cosmosdb-server, started by cosmostest once
// per test binary (see there); TestMain stops it. They never skip: when the
// server cannot start, every test that needs it fails and says why.

func TestMain(m *testing.M) {
	code := m.Run()
	cosmostest.StopShared()
	os.Exit(code)
}

// server returns the endpoint of the local server, starting it on first use.
func server(t *testing.T) string {
	t.Helper()
	return cosmostest.Shared(t)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// testKey is a key of the right shape; the local server checks none.
var testKey = AccountKey(cosmostest.Key)

var dbCount atomic.Int64

// newDatabaseName returns a database name no other test uses.
func newDatabaseName() string { return fmt.Sprintf("test-%d-%d", os.Getpid(), dbCount.Add(1)) }

// testOptions are the options of a store in database db of the local server,
// with the Gateway's query rules enforced (see gatewayRules).
func testOptions(t *testing.T, db string) Options {
	t.Helper()
	return Options{
		Endpoint: server(t), Database: db, Key: testKey, EnsureContainers: true,
		ClientOptions: clientOptions(gatewayRules{next: http.DefaultClient}),
	}
}

// openTest opens a store in a database of its own, dropped at cleanup.
func openTest(t *testing.T) *Store {
	t.Helper()
	return openWith(t, testOptions(t, newDatabaseName()))
}

// openWith opens a store with o; cleanup closes it and drops its database.
func openWith(t *testing.T, o Options) *Store {
	t.Helper()
	s, err := Open(t.Context(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if db, err := s.client.NewDatabase(o.Database); err == nil {
			db.Delete(ctx, nil) // gone already when another store of the test dropped it
		}
		s.Close()
	})
	return s
}

// transporterFunc adapts a function to policy.Transporter.
type transporterFunc func(*http.Request) (*http.Response, error)

func (f transporterFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// response is a canned answer to req.
func response(req *http.Request, status int, header http.Header, body string) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	header.Set("Content-Type", "application/json")
	return &http.Response{StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Header: header, Body: io.NopCloser(bytes.NewBufferString(body)), Request: req,
		ContentLength: int64(len(body))}
}

var _ policy.Transporter = transporterFunc(nil)
