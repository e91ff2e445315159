package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// --format table|json|csv on every verb that prints findings or checks, and
// one log format for every verb, judged through the built binary as a person
// at a terminal and a CI job run it. (scan needs Azure: its formats are
// judged in-process against a local Resource Graph, internal/cli.)
func TestOutputThroughTheBinary(t *testing.T) {
	bin, _ := buildExportguard(t)
	dir := t.TempDir()
	store := "sqlite:" + filepath.Join(dir, "guard.db")
	const session = "testdata/sessions/remediation-approve.ndjson" // plans awaiting approval, an audit trail
	if code, _, stderr := runEnv(t, bin, nil, "replay", "--store", store, "--policy", "testdata/sessions/remediation-approve.policy.yaml", session); code != 0 {
		t.Fatalf("replay into %s: exit %d\n%s", store, code, stderr)
	}
	verbs := []struct {
		name  string
		args  []string
		table bool // a table fitted to the width (the others print prose under --format table)
		ids   bool // rows about resources: the table names them, the csv has the full ID
	}{
		{"replay", []string{"replay", "testdata/sessions/storage-replication.ndjson"}, true, true},
		{"replay --compare", []string{"replay", "--policy", "testdata/whatif/new.yaml", "--compare", "testdata/whatif/old.yaml", "testdata/sessions/storage-replication.ndjson"}, true, true},
		{"remediate list", []string{"remediate", "list", "--store", store}, true, true},
		{"doctor", []string{"doctor", "--store", store}, true, false},
		{"policy check", []string{"policy", "check", "testdata/sessions/remediation-approve.policy.yaml"}, false, false},
		{"audit verify", []string{"audit", "verify", "--store", store}, false, false},
	}
	const width = 80
	for _, v := range verbs {
		t.Run(v.name, func(t *testing.T) {
			outs := map[string]string{}
			for _, format := range []string{"table", "json", "csv"} {
				code, stdout, stderr := runEnv(t, bin, []string{"COLUMNS=80"}, append(slices.Clone(v.args), "--format", format)...)
				if code != 0 {
					t.Fatalf("%s --format %s: exit %d\n%s", v.name, format, code, stderr)
				}
				if strings.TrimSpace(stdout) == "" {
					t.Fatalf("%s --format %s printed nothing", v.name, format)
				}
				if strings.ContainsRune(stdout, '\x1b') {
					t.Errorf("%s --format %s: an escape sequence in a pipe: %q", v.name, format, stdout)
				}
				outs[format] = stdout
			}
			var ids []string
			for _, l := range lines(outs["json"]) {
				var obj map[string]any
				if err := json.Unmarshal([]byte(l), &obj); err != nil {
					t.Fatalf("%s --format json: a line that is not a JSON object: %q: %v", v.name, l, err)
				}
				ids = append(ids, findIDs(obj)...)
			}
			rows, err := csv.NewReader(strings.NewReader(outs["csv"])).ReadAll()
			if err != nil {
				t.Fatalf("%s --format csv: %v\n%s", v.name, err, outs["csv"])
			}
			if len(rows) < 2 {
				t.Fatalf("%s --format csv: want a header row and rows:\n%s", v.name, outs["csv"])
			}
			if v.ids {
				col := slices.Index(rows[0], "resourceId")
				if col < 0 {
					t.Fatalf("%s --format csv: no resourceId column in %q", v.name, rows[0])
				}
				var csvIDs []string
				for _, r := range rows[1:] {
					csvIDs = append(csvIDs, r[col])
				}
				slices.Sort(ids)
				slices.Sort(csvIDs)
				if len(ids) == 0 || !slices.Equal(slices.Compact(ids), slices.Compact(csvIDs)) {
					t.Errorf("%s: the csv's resource IDs %q are not the JSON's %q", v.name, csvIDs, ids)
				}
				if strings.Contains(outs["table"], "/subscriptions/") {
					t.Errorf("%s --format table shows whole resource IDs:\n%s", v.name, outs["table"])
				}
			}
			if v.table {
				for _, l := range lines(outs["table"]) {
					if n := utf8.RuneCountInString(l); n > width {
						t.Errorf("%s --format table, COLUMNS=%d: a line of %d: %q", v.name, width, n, l)
					}
				}
			}
			code, _, stderr := runEnv(t, bin, nil, append(slices.Clone(v.args), "--format", "xml")...)
			if code != 2 || !strings.Contains(stderr, `"xml"`) || !strings.Contains(stderr, "table, json or csv") {
				t.Errorf("%s --format xml: exit %d, want 2 naming the formats:\n%s", v.name, code, stderr)
			}
		})
	}
}

// findIDs are the resource IDs a JSON line names: resourceId at its top, or
// in its plan (remediate list).
func findIDs(obj map[string]any) []string {
	if id, ok := obj["resourceId"].(string); ok {
		return []string{id}
	}
	if plan, ok := obj["plan"].(map[string]any); ok {
		return findIDs(plan)
	}
	return nil
}

// Logs are JSON when stderr is not a terminal (a CI job, the Functions host),
// text with --log-format text, and a log format that is none is refused.
func TestLogFormatThroughTheBinary(t *testing.T) {
	bin, _ := buildExportguard(t)
	args := []string{"replay", "--format", "json", "--log-level", "debug", "testdata/sessions/storage-replication.ndjson"}
	for _, tc := range []struct {
		name string
		flag []string
		json bool
	}{
		{"auto, stderr a pipe", nil, true},
		{"json", []string{"--log-format", "json"}, true},
		{"text", []string{"--log-format", "text"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runEnv(t, bin, nil, append(slices.Clone(tc.flag), args...)...)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			logs := lines(stderr)
			if len(logs) == 0 {
				t.Fatal("replay --log-level debug logged nothing")
			}
			for _, l := range logs {
				var rec struct{ Level, Msg string }
				isJSON := json.Unmarshal([]byte(l), &rec) == nil && rec.Level != "" && rec.Msg != ""
				if isJSON != tc.json || !tc.json && !strings.HasPrefix(l, "level=") {
					t.Fatalf("want JSON logs %v, got the line %q", tc.json, l)
				}
			}
		})
	}
	code, _, stderr := runEnv(t, bin, nil, append([]string{"--log-format", "yaml"}, args...)...)
	if code != 2 || !strings.Contains(stderr, "text, json or auto") {
		t.Errorf("--log-format yaml: exit %d, want 2 naming the formats:\n%s", code, stderr)
	}
}

// At a terminal the table fits the terminal's width (no $COLUMNS needed) and
// the logs are text; script(1) gives the binary a pseudo-terminal.
func TestTerminalThroughTheBinary(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("no script(1) to run the binary in a pseudo-terminal")
	}
	bin, _ := buildExportguard(t)
	errFile := filepath.Join(t.TempDir(), "stderr")
	session := "testdata/sessions/storage-replication.ndjson"
	for _, tc := range []struct {
		name, shell string
		check       func(t *testing.T, screen string)
	}{
		{"the table fits", "stty cols 70; " + bin + " replay " + session + " 2>" + errFile, func(t *testing.T, screen string) {
			if !strings.Contains(screen, "STATUS") || !strings.Contains(screen, "rg-dr") {
				t.Fatalf("no table on the terminal:\n%s", screen)
			}
			for _, l := range lines(screen) {
				if n := utf8.RuneCountInString(l); n > 70 {
					t.Errorf("a line of %d on a terminal 70 wide: %q", n, l)
				}
			}
		}},
		{"the logs are text", bin + " replay --format json --log-level debug " + session + " >/dev/null", func(t *testing.T, screen string) {
			n := 0
			for _, l := range lines(screen) {
				l = l[strings.LastIndex(l, "\r")+1:] // what a progress line left is overwritten
				l = strings.ReplaceAll(l, "\x1b[K", "")
				if !strings.Contains(l, "msg") {
					continue // progress, not a log
				}
				n++
				if !strings.HasPrefix(l, "level=") {
					t.Fatalf("a log line on a terminal that is not text: %q", l)
				}
			}
			if n == 0 {
				t.Fatalf("nothing logged:\n%q", screen)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(script, "-qec", tc.shell, "/dev/null")
			cmd.Env = append(withoutColumns(), "TERM=dumb")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("script: %v\n%s", err, out)
			}
			tc.check(t, strings.ReplaceAll(string(out), "\r\n", "\n"))
		})
	}
}

// runEnv runs the binary with the environment less COLUMNS, and env.
func runEnv(t *testing.T, bin string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Env = append(withoutColumns(), env...)
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

func withoutColumns() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "COLUMNS=") })
}

// lines are the lines of s that are not empty.
func lines(s string) []string {
	return slices.DeleteFunc(strings.Split(s, "\n"), func(l string) bool { return strings.TrimSpace(l) == "" })
}
