package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ModuleRoot is the directory of the product's module (the replace target).
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/exportguard/exportguard").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m github.com/exportguard/exportguard: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// BuildBinary builds exportguard as `make build` does (CGO_ENABLED=0, from the
// module root, with the product's own go.mod) into dir.
func BuildBinary(ctx context.Context, dir string) (string, error) {
	root, err := ModuleRoot(ctx)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "exportguard")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build exportguard: %w: %s", err, stderr.String())
	}
	return bin, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ColdStart starts `exportguard serve --port P` with a fresh embedded store
// file (EXPORTGUARD_STORE=sqlite:FILE, so each start also creates the schema)
// and polls GET / (the host's readiness probe) every millisecond until it
// answers 200. It returns the time from starting the process to that answer.
func ColdStart(ctx context.Context, bin, dir string, run int) (time.Duration, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	db := filepath.Join(dir, "coldstart-"+strconv.Itoa(run)+".db")
	cmd := exec.CommandContext(ctx, bin, "serve", "--port", strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "EXPORTGUARD_STORE=sqlite:"+db, "EXPORTGUARD_LOG_LEVEL=warn")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	client := &http.Client{Timeout: 200 * time.Millisecond}
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		os.Remove(db)
		os.Remove(db + "-wal")
		os.Remove(db + "-shm")
	}()
	deadline := start.Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			return 0, fmt.Errorf("exportguard serve exited before it was ready: %v: %s", err, stderr.String())
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return 0, fmt.Errorf("exportguard serve not ready after 20s: %s", stderr.String())
}
