// Package cosmostest starts the local Cosmos DB server that tests in this
// module run against: @vercel/cosmosdb-server, installed by `npm ci` at the
// repository root (make test does it first), started through
// pkg/cosmos/testdata/cosmosdb-server.js on a free loopback port with
// --no-ssl. That wrapper is the package's CLI with absent documents read as 404
// rather than 500, transactional batches with Cosmos DB's semantics (all or
// nothing, the failing operation's status and 424 for the others, ifMatch,
// every operation type; pkg/cosmos/batch_server_test.go checks them), and
// request counts at GET /_counts (ReadCounts, ResetCounts). Tests that use it
// never skip: when the server cannot start, they fail and say why.
//
// It is a package of its own, not a _test file, so that the tests of
// pkg/cosmos and of the exportguard command (replay against Cosmos DB) start
// the server the same way. It imports nothing of pkg/cosmos, whose tests
// import it.
package cosmostest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// StartTimeout bounds the wait for the server to answer.
const StartTimeout = 20 * time.Second

// Key is an account key of the right shape (64 random bytes in base64); the
// local server checks none.
var Key = func() string {
	b := make([]byte, 64)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}()

// Server is a local server process.
type Server struct {
	// Endpoint is its account endpoint, http://127.0.0.1:PORT/.
	Endpoint string
	cmd      *exec.Cmd
	exited   chan struct{}
	output   syncBuffer // its stdout and stderr
	stopOnce sync.Once
}

// Start starts a server and waits until it answers. Stop it when done; on
// Linux it is also killed when the process that started it dies.
func Start() (*Server, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, fmt.Errorf("start local Cosmos DB server: %w", err)
	}
	pkg := filepath.Join(root, "node_modules", "@vercel", "cosmosdb-server", "package.json")
	if _, err := os.Stat(pkg); err != nil {
		return nil, fmt.Errorf("start local Cosmos DB server: @vercel/cosmosdb-server is not installed (%v): run `npm ci` in %s (make test does)", err, root)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("start local Cosmos DB server: node is needed to run it: %w", err)
	}
	script := filepath.Join(root, "pkg", "cosmos", "testdata", "cosmosdb-server.js")
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("start local Cosmos DB server: %w", err)
	}
	s := &Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d/", port), exited: make(chan struct{})}
	s.cmd = exec.Command(node, script, "--no-ssl", "--host", "127.0.0.1", "-p", strconv.Itoa(port))
	s.cmd.Dir = root
	s.cmd.Stdout, s.cmd.Stderr = &s.output, &s.output
	dieWithParent(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start local Cosmos DB server %s: %w", script, err)
	}
	go func() {
		s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(); err != nil {
		s.Stop()
		return nil, fmt.Errorf("start local Cosmos DB server: %w; server output:\n%s", err, s.output.String())
	}
	return s, nil
}

// StartForTest starts a server for one test and stops it at the test's
// cleanup; when it cannot start, the test fails with the reason.
func StartForTest(tb testing.TB) *Server {
	tb.Helper()
	s, err := Start()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Output returns what the server has printed so far.
func (s *Server) Output() string { return s.output.String() }

// waitReady polls the account endpoint until it answers, the process exits, or
// StartTimeout passes.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(StartTimeout)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(s.Endpoint)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("server exited before answering (%v)", s.cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server did not answer at %s within %v: %v", s.Endpoint, StartTimeout, err)
		}
	}
}

// Stop ends the server process (interrupt, then kill after 3 s) and waits for
// it. Stopping twice is fine.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.cmd == nil || s.cmd.Process == nil {
			return
		}
		s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.exited:
		case <-time.After(3 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
		}
	})
}

// shared is the one server of a test binary that calls Shared.
var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Shared returns the endpoint of the test binary's one server, starting it on
// first use; when it cannot start, every test that asks fails with the reason.
// Stop it from TestMain with StopShared.
func Shared(tb testing.TB) string {
	tb.Helper()
	shared.once.Do(func() { shared.srv, shared.err = Start() })
	if shared.err != nil {
		tb.Fatalf("local Cosmos DB server: %v", shared.err)
	}
	return shared.srv.Endpoint
}

// StopShared stops the server Shared started, if any.
func StopShared() {
	if shared.srv != nil {
		shared.srv.Stop()
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
