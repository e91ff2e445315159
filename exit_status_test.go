package main

import (
	"bytes"
	"debug/buildinfo"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The exit status is what a pipeline gates on (DESIGN 3.1): 0 done; 1
// failed; 2 usage; 3 --fail-on. Judged through the built binary, as a CI job
// runs it.
func TestExitStatus(t *testing.T) {
	bin, _ := buildExportguard(t)
	dir := t.TempDir()
	allBad := filepath.Join(dir, "all-malformed.ndjson")
	if err := os.WriteFile(allBad, []byte("not json\n{\"source\":\"nowhere\"}\n[1,2]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const (
		openHigh   = "testdata/sessions/storage-replication.ndjson" // 6 open high
		openMedium = "testdata/sessions/tls-public.ndjson"          // 1 open medium, 3 resolved medium
	)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // a part of stdout
		stderr string // a part of stderr
	}{
		{"replay done", []string{"replay", openHigh}, 0, "STATUS", "6 open"},
		{"a missing session fails", []string{"replay", filepath.Join(dir, "missing.ndjson")}, 1, "", "no such file"},
		{"no readable line fails", []string{"replay", allBad}, 1, "", "no readable line (3 malformed)"},
		{"unknown flag", []string{"replay", "--no-such-flag", openHigh}, 2, "", "unknown flag: --no-such-flag"},
		{"unknown verb", []string{"replya", openHigh}, 2, "", `unknown command "replya"`},
		{"missing argument", []string{"replay"}, 2, "", "requires at least 1 arg"},
		{"extra argument", []string{"scan", "extra"}, 2, "", "unknown command"},
		{"mutually exclusive flags", []string{"replay", "--compare", openHigh, "--store", "memory:", openHigh}, 2, "", "[compare store]"},
		{"a format the verb refuses", []string{"replay", "--format", "xml", openHigh}, 2, "", `invalid argument "xml" for "--format" flag: want table, json or csv`},
		{"a severity that is none", []string{"replay", "--fail-on", "severe", openHigh}, 2, "", `--fail-on "severe"`},
		{"fail-on high, open high", []string{"replay", "--fail-on", "high", openHigh}, 3, "STATUS", "6 open finding(s) at or above high"},
		{"fail-on high, json still printed", []string{"replay", "--format", "json", "--fail-on", "high", openHigh}, 3, `"status":"open"`, "at or above high"},
		{"fail-on critical, none critical", []string{"replay", "--fail-on", "critical", openHigh}, 0, "STATUS", "6 open"},
		{"fail-on high, only medium open", []string{"replay", "--fail-on", "high", openMedium}, 0, "STATUS", "1 open"},
		{"fail-on medium, medium open", []string{"replay", "--fail-on", "medium", openMedium}, 3, "STATUS", "1 open finding(s) at or above medium"},
		{"fail-on low counts higher", []string{"replay", "--fail-on", "low", openMedium}, 3, "STATUS", "at or above low"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runExportguard(t, bin, tc.args...)
			if code != tc.code {
				t.Fatalf("exportguard %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exportguard %s: want %q on stdout and %q on stderr\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), tc.stdout, tc.stderr, stdout, stderr)
			}
		})
	}
}

// --version and the version verb print the version and the commit the
// binary was built from: the vcs.revision go build stamped (the checkout's
// HEAD; go stamps none in a git worktree, whose .git is a file, and then
// "unknown" is printed).
func TestVersionNamesTheCommit(t *testing.T) {
	bin, head := buildExportguard(t)
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	commit := "unknown"
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			commit = s.Value
		}
	}
	if commit != "unknown" && commit != head {
		t.Fatalf("go build stamped commit %s, git HEAD is %s", commit, head)
	}
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, stdout, stderr := runExportguard(t, bin, args...)
		if code != 0 {
			t.Fatalf("exportguard %s: exit %d\n%s", args[0], code, stderr)
		}
		if !strings.HasPrefix(stdout, "exportguard ") || !strings.Contains(stdout, "(commit "+commit) {
			t.Errorf("exportguard %s printed %q, want the version and commit %s", args[0], stdout, commit)
		}
	}
}

// buildExportguard builds the command into a temporary directory, stamped
// with the checkout's commit when git can name it (the commit is then
// returned; else "unknown").
func buildExportguard(t *testing.T) (bin, commit string) {
	t.Helper()
	//lint:ignore SA1019 a test binary runs where it was built: GOROOT is the toolchain running this test, the one that must build exportguard
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	commit, vcs := "unknown", "-buildvcs=false"
	if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		commit, vcs = strings.TrimSpace(string(out)), "-buildvcs=true"
	}
	bin = filepath.Join(t.TempDir(), "exportguard")
	build := exec.Command(goTool, "build", vcs, "-o", bin, ".")
	build.Env = append(os.Environ(), "GOFLAGS="+vcs) // the flag alone loses to a GOFLAGS=-buildvcs=false in go env
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin, commit
}

func runExportguard(t *testing.T, bin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if exit, ok := errors.AsType[*exec.ExitError](err); ok {
		return exit.ExitCode(), out.String(), errOut.String()
	}
	if err != nil {
		t.Fatalf("run exportguard: %v", err)
	}
	return 0, out.String(), errOut.String()
}
