package cosmos

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// The tests run against @vercel/cosmosdb-server, installed by `npm ci` at the
// repository root (make test does it first) and started through
// testdata/cosmosdb-server.js (its CLI, with absent documents read as 404
// rather than 500), once per test binary, on a free loopback port with
// --no-ssl; TestMain stops it. They never skip: when the server cannot start,
// every test that needs it fails and says why.

func TestMain(m *testing.M) {
	code := m.Run()
	local.stop()
	os.Exit(code)
}

// serverStartTimeout bounds the wait for the server to answer.
const serverStartTimeout = 20 * time.Second

// localServer is the one server process of this test binary.
type localServer struct {
	once     sync.Once
	endpoint string // http://127.0.0.1:PORT/
	err      error
	cmd      *exec.Cmd
	exited   chan struct{}
	output   syncBuffer // its stdout and stderr
}

var local localServer

// server returns the endpoint of the local server, starting it on first use.
func server(t *testing.T) string {
	t.Helper()
	local.once.Do(func() { local.err = local.start() })
	if local.err != nil {
		t.Fatalf("local Cosmos DB server: %v", local.err)
	}
	return local.endpoint
}

func (l *localServer) start() error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	pkg := filepath.Join(root, "node_modules", "@vercel", "cosmosdb-server", "package.json")
	if _, err := os.Stat(pkg); err != nil {
		return fmt.Errorf("@vercel/cosmosdb-server is not installed (%v): run `npm ci` in %s (make test does)", err, root)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("node is needed to run the server: %w", err)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "cosmosdb-server.js"))
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	l.cmd = exec.Command(node, script, "--no-ssl", "--host", "127.0.0.1", "-p", strconv.Itoa(port))
	l.cmd.Dir = root
	l.cmd.Stdout, l.cmd.Stderr = &l.output, &l.output
	if err := l.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", script, err)
	}
	l.exited = make(chan struct{})
	go func() {
		l.cmd.Wait()
		close(l.exited)
	}()
	l.endpoint = fmt.Sprintf("http://127.0.0.1:%d/", port)
	if err := l.waitReady(); err != nil {
		l.stop()
		return fmt.Errorf("%w; server output:\n%s", err, l.output.String())
	}
	return nil
}

// waitReady polls the account endpoint until it answers, the process exits, or
// serverStartTimeout passes.
func (l *localServer) waitReady() error {
	deadline := time.Now().Add(serverStartTimeout)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(l.endpoint)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-l.exited:
			return fmt.Errorf("server exited before answering (%v)", l.cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server did not answer at %s within %v: %v", l.endpoint, serverStartTimeout, err)
		}
	}
}

// stop ends the server process this binary started, if any.
func (l *localServer) stop() {
	if l.cmd == nil || l.cmd.Process == nil {
		return
	}
	l.cmd.Process.Signal(os.Interrupt)
	select {
	case <-l.exited:
	case <-time.After(3 * time.Second):
		l.cmd.Process.Kill()
		<-l.exited
	}
}

// repoRoot walks up from the working directory to the directory with go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// testKey is a key of the right shape; the local server checks none.
var testKey = func() AccountKey {
	b := make([]byte, 64)
	rand.Read(b)
	return AccountKey(base64.StdEncoding.EncodeToString(b))
}()

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
