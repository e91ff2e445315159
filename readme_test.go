package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// The README's commands are run as they are written: a reader copies them. Every
// shell block (```sh, ```bash, ```console) runs, in order, unless the line just
// before it says why not:
//
//	<!-- needs-azure -->          (or <!-- needs-azure: what it needs -->) Azure, a
//	                              sign-in, the Functions Core Tools, a webhook
//	<!-- not-run: why -->         anything else, with the reason
//
// A ```console block holds commands after "$ " and the output they print
// (stdout and stderr as a terminal shows them, trailing blanks aside), which
// must be what they print: go test -run TestReadmeCommands -update-readme
// rewrites that output from a run (read the diff).

var updateReadme = flag.Bool("update-readme", false, "rewrite the output shown in the README's console blocks from a run")

// readmeBlock is one fenced code block of the README.
type readmeBlock struct {
	lang   string   // the fence's info string: sh, bash, console, yaml, "" ...
	line   int      // the fence's line number, 1-based
	lines  []string // the block's text, without the fences
	marker string   // the <!-- ... --> comment on the line before the fence, if any
}

func (b readmeBlock) shell() bool { return b.lang == "sh" || b.lang == "bash" || b.lang == "console" }

var readmeMarker = regexp.MustCompile(`^<!--\s*(needs-azure|not-run)(?::\s*(.*?))?\s*-->$`)

// readmeBlocks splits text into its fenced code blocks.
func readmeBlocks(t *testing.T, text string) []readmeBlock {
	t.Helper()
	var blocks []readmeBlock
	var cur *readmeBlock
	prev := ""
	for i, l := range strings.Split(text, "\n") {
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &readmeBlock{lang: strings.TrimSpace(strings.TrimPrefix(l, "```")), line: i + 1}
			if strings.HasPrefix(strings.TrimSpace(prev), "<!--") {
				cur.marker = strings.TrimSpace(prev)
			}
		case cur != nil && strings.TrimSpace(l) == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, l)
		case readmeMarker.MatchString(strings.TrimSpace(l)):
			// checked below: a marker belongs to the block right after it
		}
		prev = l
	}
	if cur != nil {
		t.Fatalf("README.md: the code block at line %d is not closed", cur.line)
	}
	return blocks
}

// TestReadmeMarkers: every marker stands right before a shell block, and a
// not-run says why; no block is left out without one.
func TestReadmeMarkers(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	for i, l := range lines {
		m := readmeMarker.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		if i+1 >= len(lines) || !regexp.MustCompile("^```(sh|bash|console)$").MatchString(lines[i+1]) {
			t.Errorf("README.md:%d: %s is not right before a ```sh, ```bash or ```console block", i+1, l)
		}
		if m[1] == "not-run" && m[2] == "" {
			t.Errorf("README.md:%d: not-run says why: <!-- not-run: REASON -->", i+1)
		}
	}
	for _, b := range readmeBlocks(t, string(raw)) {
		if b.marker != "" && b.shell() && !readmeMarker.MatchString(b.marker) {
			t.Errorf("README.md:%d: %q before a shell block is no marker this test knows (needs-azure, not-run: why)", b.line, b.marker)
		}
	}
}

// envInReadmeTest is set in the environment of the commands this test runs: a
// block that ran go test or make test would otherwise run this test again, and
// it again, without end.
const envInReadmeTest = "EXPORTGUARD_IN_README_TEST"

// heavyCommand is a command that must never run unmarked from here: the whole
// test suite (this test among it), npm ci, the benchmarks, the fault tests.
var heavyCommand = regexp.MustCompile(`(?m)(^|[;&|(]\s*|\$ )(make\s+(test|unit|fuzz|faults|bench|lint|chromium|cosmos|func)\b|go\s+test\b|npm\s+(ci|install)\b)`)

func TestReadmeCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the README's commands build and run exportguard")
	}
	if os.Getenv(envInReadmeTest) != "" {
		t.Skip("run by a README command that this test runs")
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := readmeBlocks(t, string(raw))

	// A scratch directory that sees the checkout's files (symlinks), with
	// bin/exportguard built as make builds it, so that what the commands write
	// (trail.db, report.html) lands there. make runs in the checkout itself,
	// as a reader runs it (it writes bin/, which git ignores): built elsewhere,
	// go would compile every package of the module again.
	scratch := t.TempDir()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch name := e.Name(); {
		case name == "bin" || name == "dist" || name == ".git" || strings.HasSuffix(name, ".db") || strings.Contains(name, ".db-"):
		default:
			if err := os.Symlink(filepath.Join(root, name), filepath.Join(scratch, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	env := readmeEnv(scratch)
	if out, err := runShell(t, root, env, "make -s build"); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	if err := os.MkdirAll(filepath.Join(scratch, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(filepath.Join(root, "bin", "exportguard"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(scratch, "bin", "exportguard"), bin, 0o755); err != nil {
		t.Fatal(err)
	}

	ran := 0
	rewrite := map[int][]string{} // console blocks' new text, by fence line
	for _, b := range blocks {
		if !b.shell() || b.marker != "" {
			continue
		}
		if m := heavyCommand.FindString(strings.Join(b.lines, "\n")); m != "" {
			t.Errorf("README.md:%d: the block runs %q, which this test must not (the whole suite, npm, benchmarks): mark it <!-- not-run: why -->", b.line, strings.TrimSpace(m))
			continue
		}
		ran++
		dir := scratch
		if usesMake(b.lines) {
			dir = root
		}
		if b.lang != "console" {
			script := strings.Join(b.lines, "\n")
			if out, err := runShell(t, dir, env, script); err != nil {
				t.Errorf("README.md:%d: the block fails (%v):\n%s\n--- it printed:\n%s", b.line, err, script, out)
			}
			continue
		}
		var text []string
		for _, step := range consoleSteps(b.lines) {
			out, err := runShell(t, dir, env, step.command)
			if err != nil {
				t.Errorf("README.md:%d: $ %s fails (%v):\n%s", b.line, step.command, err, out)
			}
			got := trimLines(out)
			if want := trimLines(strings.Join(step.output, "\n")); got != want {
				if !*updateReadme {
					t.Errorf("README.md:%d: $ %s prints what the README does not show (-update-readme rewrites it):\n--- README:\n%s\n--- printed:\n%s", b.line, step.command, want, got)
				}
			}
			text = append(text, "$ "+step.command)
			if got != "" {
				text = append(text, strings.Split(got, "\n")...)
			}
		}
		rewrite[b.line] = text
	}
	if ran < 6 {
		t.Errorf("only %d README blocks ran: markers leave out too much", ran)
	}

	// What the README says the commands show.
	// The report of the sample's week (--now, --since 7d) has the session's events in its timeline.
	if md, err := os.ReadFile(filepath.Join(scratch, "posture.md")); err != nil {
		t.Errorf("the README's report command wrote no posture.md: %v", err)
	} else if tl := mdSection(string(md), "Timeline"); !strings.Contains(tl, "2026-11-02") {
		t.Errorf("posture.md: the timeline of the README's --since example shows none of the session's events (2026-11-02):\n%s", tl)
	}
	// The approved plan was carried out by the second replay; the denied one was not.
	if db := filepath.Join(scratch, "approve.db"); fileExists(db) {
		st, err := sqlite.Open(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		for id, want := range map[string]string{"bb4755c86a540167f935b62e73fa9309": "applied", "2cc3bba4ba63c3ef9dae1b450cc0f2fc": "none"} {
			f, err := st.GetFinding(context.Background(), id)
			if err != nil || f.Remediation.Status != want {
				t.Errorf("after the README's approve example, finding %s: %v, remediation %q; want %q", id, err, remediationOf(f), want)
			}
		}
	} else {
		t.Error("the README's approve example left no approve.db")
	}

	if *updateReadme && !t.Failed() {
		writeReadme(t, string(raw), rewrite)
	}
}

func remediationOf(f *guard.Finding) string {
	if f == nil {
		return ""
	}
	return f.Remediation.Status
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// readmeEnv is the environment the blocks run in: the process's, without the
// settings that would point exportguard elsewhere (EXPORTGUARD_*, Azure,
// Cosmos DB) or change what make prints, with bin/exportguard and go on PATH.
func readmeEnv(scratch string) []string {
	//lint:ignore SA1019 a test binary runs where it was built: GOROOT is the toolchain running this test, the one make must build with
	goBin := filepath.Join(runtime.GOROOT(), "bin")
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "EXPORTGUARD_"), strings.HasPrefix(name, "AZURE_"), name == "COSMOS_KEY",
			name == "MAKEFLAGS", name == "MFLAGS", name == "MAKELEVEL", name == "PATH", name == "GO":
			continue
		}
		env = append(env, kv)
	}
	return append(env, envInReadmeTest+"=1",
		// Nothing leaves the machine: HTTP clients (the Azure SDK's among them)
		// go through a proxy on a loopback port nobody listens on.
		"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=127.0.0.1,localhost,::1",
		"PATH="+filepath.Join(scratch, "bin")+string(os.PathListSeparator)+goBin+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// runShell runs script with bash -e -o pipefail in dir; stdout and stderr
// together, in the order they were written. After 2 minutes the script and
// everything it started (its process group) are killed.
func runShell(t *testing.T, dir string, env []string, script string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", script)
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = errors.New("still running after 2 minutes")
	}
	return out.String(), err
}

func usesMake(lines []string) bool {
	for _, l := range lines {
		l = strings.TrimPrefix(strings.TrimSpace(l), "$ ")
		if l == "make" || strings.HasPrefix(l, "make ") {
			return true
		}
	}
	return false
}

type consoleStep struct {
	command string
	output  []string
}

func consoleSteps(lines []string) []consoleStep {
	var steps []consoleStep
	for _, l := range lines {
		if c, ok := strings.CutPrefix(l, "$ "); ok {
			steps = append(steps, consoleStep{command: c})
			continue
		}
		if len(steps) > 0 {
			steps[len(steps)-1].output = append(steps[len(steps)-1].output, l)
		}
	}
	return steps
}

func trimLines(s string) string {
	var out []string
	for l := range strings.SplitSeq(strings.TrimRight(s, "\n"), "\n") {
		out = append(out, strings.TrimRight(l, " \t\r"))
	}
	return strings.TrimRight(strings.Join(out, "\n"), "\n")
}

// mdSection is the text under the first Markdown heading that contains name,
// up to the next heading of any level.
func mdSection(md, name string) string {
	var b strings.Builder
	in := false
	sc := bufio.NewScanner(strings.NewReader(md))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") {
			if in {
				break
			}
			in = strings.Contains(l, name)
			continue
		}
		if in {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// writeReadme replaces the body of each console block named by its fence line.
func writeReadme(t *testing.T, text string, blocks map[int][]string) {
	t.Helper()
	lines := strings.Split(text, "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		out = append(out, lines[i])
		body, ok := blocks[i+1]
		if !ok {
			continue
		}
		out = append(out, body...)
		for i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "```" {
			i++
		}
	}
	if err := os.WriteFile("README.md", []byte(strings.Join(out, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}
