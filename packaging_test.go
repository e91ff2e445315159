package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/internal/cli"
)

// hostPort is the port of an ASPNETCORE_URLS value such as http://+:8080.
func hostPort(urls string) string {
	m := regexp.MustCompile(`^https?://[^/]+:(\d+)/?$`).FindStringSubmatch(strings.TrimSpace(urls))
	if m == nil {
		return ""
	}
	return m[1]
}

// Every service says when it is ready, and nothing starts before what it needs
// is: a depends_on list only waits for the container to start. Images are
// pinned to a version tag, so that compose up next month runs what was checked.
func TestDockerComposeHealthAndPins(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	// The Cosmos DB emulator (vnext) publishes its Linux image under this tag
	// only; it is the one tag allowed to move.
	floating := map[string]bool{"mcr.microsoft.com/cosmosdb/linux/azure-cosmos-emulator:vnext-preview": true}
	version := regexp.MustCompile(`:v?\d+(\.\d+)+(@sha256:[0-9a-f]{64})?$`)
	for name, s := range c.Services {
		t.Run(name, func(t *testing.T) {
			switch {
			case s.Image == "" && s.Build == nil:
				t.Error("neither an image nor a build")
			case s.Image != "" && !floating[s.Image] && !version.MatchString(s.Image):
				t.Errorf("image %q is not pinned to a version tag", s.Image)
			}
			h := s.Healthcheck
			if h == nil || h.Disable || len(h.Test) < 2 || (h.Test[0] != "CMD" && h.Test[0] != "CMD-SHELL") {
				t.Fatalf("no health check: %+v", h)
			}
			if h.Interval == "" || h.Timeout == "" || h.Retries < 1 {
				t.Errorf("health check without interval, timeout and retries: %+v", h)
			}
			if strings.Contains(strings.Join(h.Test, " "), "curl") || strings.Contains(strings.Join(h.Test, " "), "wget") {
				t.Errorf("health check %q counts on a tool these images do not promise", h.Test)
			}
			for dep, d := range s.DependsOn {
				if _, ok := c.Services[dep]; !ok {
					t.Errorf("depends on %s, which is not a service", dep)
				}
				if d.Condition != "service_healthy" {
					t.Errorf("depends on %s with condition %q: want service_healthy (it waits for the health check)", dep, d.Condition)
				}
			}
		})
	}
	// The function app's probe is the binary the Dockerfile puts in the
	// image, asking the health function on the port the host listens on.
	fn := c.Services["functions"]
	if fn.Healthcheck == nil {
		t.Fatal("functions has no health check")
	}
	want := []string{"CMD", "/home/site/wwwroot/exportguard", "health", "--url", "http://127.0.0.1:" + hostPort(fn.Environment["ASPNETCORE_URLS"]) + "/api/health"}
	if strings.Join(fn.Healthcheck.Test, " ") != strings.Join(want, " ") {
		t.Errorf("functions health check %q, want %q", fn.Healthcheck.Test, want)
	}
}

// The image runs as a fixed unprivileged user, on a port such a user may bind,
// and checks its own health with the handler binary (the Functions base image
// has no curl to count on).
func TestDockerfileUserAndHealthcheck(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines, then take the final stage.
	text := strings.ReplaceAll(string(raw), "\\\n", " ")
	var stage []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.Join(strings.Fields(line), " ")
		if strings.HasPrefix(line, "FROM ") {
			stage = nil
		}
		if line != "" && !strings.HasPrefix(line, "#") {
			stage = append(stage, line)
		}
	}
	var user, health, urls string
	for _, line := range stage {
		switch {
		case strings.HasPrefix(line, "USER "):
			user = strings.TrimPrefix(line, "USER ")
		case strings.HasPrefix(line, "HEALTHCHECK "):
			health = line
		case strings.HasPrefix(line, "ENV "):
			if m := regexp.MustCompile(`ASPNETCORE_URLS=(\S+)`).FindStringSubmatch(line); m != nil {
				urls = m[1]
			}
		}
	}
	uid, gid, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n < 1000 {
		t.Errorf("final stage USER %q: want a fixed numeric UID of 1000 or more (not root, not a name)", user)
	}
	if gid != "" {
		if n, err := strconv.Atoi(gid); err != nil || n == 0 {
			t.Errorf("final stage USER %q: want a numeric, non-root group", user)
		}
	}
	port, _ := strconv.Atoi(hostPort(urls))
	if port < 1024 {
		t.Errorf("ASPNETCORE_URLS %q: a non-root user cannot bind a port below 1024", urls)
	}
	_, cmd, ok := strings.Cut(health, " CMD ")
	if !ok {
		t.Fatalf("no HEALTHCHECK ... CMD in the final stage: %q", health)
	}
	for _, want := range []string{"--interval=", "--timeout=", "--start-period="} {
		if !strings.Contains(health, want) {
			t.Errorf("HEALTHCHECK lacks %s: %q", want, health)
		}
	}
	var argv []string
	if err := json.Unmarshal([]byte(cmd), &argv); err != nil {
		t.Fatalf("HEALTHCHECK CMD %q is not exec form: %v", cmd, err)
	}
	want := []string{"/home/site/wwwroot/exportguard", "health", "--url", "http://127.0.0.1:" + hostPort(urls) + "/api/health"}
	if strings.Join(argv, " ") != strings.Join(want, " ") {
		t.Errorf("HEALTHCHECK runs %q, want %q (the binary COPY puts in the image, the port the host listens on)", argv, want)
	}
	if !strings.Contains(text, "COPY --from=build /out/exportguard /home/site/wwwroot/exportguard") {
		t.Error("the binary the health check runs is not copied into the image")
	}
	// And the binary has that verb.
	var out, errOut bytes.Buffer
	app := &cli.App{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }, Functions: functionsFS}
	if status := cli.Main(context.Background(), app, []string{argv[1], "--help"}); status != 0 || !strings.Contains(out.String(), "--url") {
		t.Errorf("exportguard %s --help: exit %d, %s%s", argv[1], status, out.String(), errOut.String())
	}
}
