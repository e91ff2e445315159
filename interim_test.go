package main

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/internal/cli"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/notify/notifytest"
	"github.com/exportguard/exportguard/pkg/replay"
)

// The helpers the tests of record, replay --via and replay --to-eventhub use
// while those verbs are in this package (interim.go); internal/cli's tests
// have the same ones.

// testApp is the App these tests run.
func testApp() *cli.App {
	return &cli.App{Functions: functionsFS, Notify: notifytest.NoWait(), Interim: interimVerbs()}
}

// run runs the exportguard command line in-process.
func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	app := testApp()
	app.Stdout, app.Stderr = &out, &errb
	err = app.Run(context.Background(), args)
	return out.String(), errb.String(), err
}

func newPipeline(st guard.Store, reader guard.ResourceReader, pol *guard.Policy, log *slog.Logger) (*guard.Pipeline, error) {
	return testApp().NewPipeline(st, reader, pol, log)
}

// session is one recorded session in testdata/sessions: NAME.ndjson, what it
// covers (NAME.covers, one line), an optional policy (NAME.policy.yaml), and its
// expected findings (testdata/golden/NAME.json).
type session struct{ name, path, policy, golden, covers string }

func sessions(t *testing.T) []session {
	t.Helper()
	paths, err := filepath.Glob("testdata/sessions/*.ndjson")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no sessions in testdata/sessions (%v)", err)
	}
	var out []session
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".ndjson")
		covers, _ := os.ReadFile(strings.TrimSuffix(p, ".ndjson") + ".covers")
		s := session{name: name, path: p, golden: filepath.Join("testdata/golden", name+".json"), covers: strings.TrimSpace(string(covers))}
		if pol := strings.TrimSuffix(p, ".ndjson") + ".policy.yaml"; fileExists(pol) {
			s.policy = pol
		}
		out = append(out, s)
	}
	return out
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// sessionLines are the lines of one source in storage-replication.ndjson.
func sessionLines(t *testing.T, source string) []replay.Line {
	t.Helper()
	f, err := os.Open("testdata/sessions/storage-replication.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []replay.Line
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, replay.MaxLineBytes)
	for sc.Scan() {
		l, err := replay.ParseLine(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if l.Source == source {
			out = append(out, l)
		}
	}
	return out
}
