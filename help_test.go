package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The help texts are read by people who then type what they show: every file
// of the repository a help text or a user document names is there, and serve
// --help names every function the binary embeds. Through the built binary.

// helpTexts is every verb's --help, by command path ("audit verify").
func helpTexts(t *testing.T, bin string) map[string]string {
	t.Helper()
	out := map[string]string{}
	queue := [][]string{{}}
	for n := 0; len(queue) > 0 && n < 200; n++ { // bounded: a few dozen verbs
		path := queue[0]
		queue = queue[1:]
		code, stdout, stderr := runExportguard(t, bin, append(slices.Clone(path), "--help")...)
		if code != 0 {
			t.Fatalf("exportguard %s --help: exit %d\n%s", strings.Join(path, " "), code, stderr)
		}
		out[strings.Join(path, " ")] = stdout
		_, cmds, ok := strings.Cut(stdout, "Available Commands:\n")
		if !ok {
			continue
		}
		cmds, _, _ = strings.Cut(cmds, "\n\n")
		for l := range strings.SplitSeq(cmds, "\n") {
			f := strings.Fields(l)
			if len(f) == 0 || f[0] == "help" || f[0] == "completion" {
				continue
			}
			queue = append(queue, append(slices.Clone(path), f[0]))
		}
	}
	if len(out) < 10 {
		t.Fatalf("found only %d help texts: %v", len(out), out)
	}
	return out
}

// repoPath matches what reads as a path inside the repository: a top-level
// folder of it, then more. Placeholders (NAME, <name>, …, *) are not paths.
var repoPath = regexp.MustCompile(`(?:^|[\s` + "`" + `"'(=])((?:testdata|functions|infra|pkg|docs|internal|bench)/[A-Za-z0-9_./-]*[A-Za-z0-9_/-])`)

func missingRepoPaths(text string) []string {
	var missing []string
	for _, m := range repoPath.FindAllStringSubmatch(text, -1) {
		p := m[1]
		if strings.Contains(p, "NAME") || strings.HasPrefix(p, "testdata/artefacts") {
			continue // a placeholder; test output, ignored by git
		}
		if _, err := os.Stat(filepath.FromSlash(p)); err != nil {
			missing = append(missing, p)
		}
	}
	return missing
}

func TestHelpAndDocsNameRealPaths(t *testing.T) {
	bin, _ := buildExportguard(t)
	for verb, help := range helpTexts(t, bin) {
		for _, p := range missingRepoPaths(help) {
			t.Errorf("exportguard %s --help names %s, which is not in the repository", verb, p)
		}
	}
	for _, doc := range userDocs(t) {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range missingRepoPaths(string(b)) {
			t.Errorf("%s names %s, which is not in the repository", doc, p)
		}
	}
}

func TestServeHelpNamesEveryFunction(t *testing.T) {
	bin, _ := buildExportguard(t)
	code, help, stderr := runExportguard(t, bin, "serve", "--help")
	if code != 0 {
		t.Fatalf("serve --help: exit %d\n%s", code, stderr)
	}
	folders, err := filepath.Glob("functions/*/function.json")
	if err != nil || len(folders) < 8 {
		t.Fatalf("functions/*/function.json: %v %v", folders, err)
	}
	for _, f := range folders {
		name := filepath.Base(filepath.Dir(f))
		if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(name) + `\s+\S*Trigger`).MatchString(help) {
			t.Errorf("serve --help does not list the function %s (%s) with its trigger:\n%s", name, f, help)
		}
	}
}
