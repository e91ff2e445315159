package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
)

// The user documents (README.md, infra/README.md, docs/) travel with a clone of
// the project: they may not point at files it does not hold (the design notes
// outside the repository, a renamed file), and the reference pages must name
// every rule ID and every policy key the code knows.

// userDocs lists the Markdown files a user reads.
func userDocs(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Error("no docs/*.md: the contracts users need are documented in docs/")
	}
	return append([]string{"README.md", "infra/README.md"}, docs...)
}

var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

func TestDocsStayInsideTheRepository(t *testing.T) {
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range userDocs(t) {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if strings.Contains(text, "../shared") || strings.Contains(text, "DESIGN.md") {
			t.Errorf("%s points at the design notes outside the repository (../shared, DESIGN.md); link into docs/ instead", name)
		}
		for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.HasPrefix(target, "#") || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			path := filepath.Join(filepath.Dir(name), filepath.FromSlash(target))
			abs, err := filepath.Abs(path)
			if err != nil {
				t.Fatal(err)
			}
			if rel, err := filepath.Rel(root, abs); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				t.Errorf("%s links to %s, outside the repository", name, m[1])
				continue
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s links to %s, which is not in the repository (%s)", name, m[1], path)
			}
		}
	}
}

func TestDocsNameEveryRule(t *testing.T) {
	b, err := os.ReadFile("docs/findings.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range guard.RuleIDs {
		if !strings.Contains(string(b), "`"+id+"`") {
			t.Errorf("docs/findings.md does not name rule %s", id)
		}
	}
}

// policyKeys lists every key of the policy file as docs/policy.md writes it
// (scope.subscriptions, rules.<rule>.mode, exemptions[].reason), from the JSON
// names of guard.Policy, which package policyfile fills key by key (its decode
// accepts these names and no others; Marshal writes them and Parse reads them
// back, policyfile's round-trip test).
func policyKeys(prefix string, typ reflect.Type) []string {
	switch typ.Kind() {
	case reflect.Struct:
		if typ.PkgPath() == "time" {
			break
		}
		var out []string
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			if prefix != "" {
				name = prefix + "." + name
			}
			out = append(out, policyKeys(name, f.Type)...)
		}
		return out
	case reflect.Map:
		return policyKeys(prefix+".<rule>", typ.Elem())
	case reflect.Slice:
		if typ.Elem().Kind() == reflect.Struct {
			return policyKeys(prefix+"[]", typ.Elem())
		}
	}
	return []string{prefix}
}

func TestDocsNameEveryPolicyKey(t *testing.T) {
	b, err := os.ReadFile("docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	keys := policyKeys("", reflect.TypeFor[guard.Policy]())
	for _, want := range []string{"cloud", "rules.<rule>.maxDuration", "exemptions[].expiresOn", "notify.webhook.url"} {
		if !strings.Contains(strings.Join(keys, " "), want) {
			t.Fatalf("policy keys %v lack %s: policyKeys no longer reads guard.Policy", keys, want)
		}
	}
	for _, key := range keys {
		found := strings.Contains(doc, "`"+key+"`")
		for _, id := range guard.RuleIDs { // a key of one rule may be written with its rule ID
			found = found || strings.Contains(doc, "`"+strings.Replace(key, "<rule>", id, 1)+"`")
		}
		if !found {
			t.Errorf("docs/policy.md does not document the policy key %s", key)
		}
	}
}

// headings lists a Markdown file's headings (outside code blocks) with their
// line numbers.
func headings(text string) (titles []string, lines []int) {
	fence := false
	for i, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "```") {
			fence = !fence
			continue
		}
		if fence || !strings.HasPrefix(l, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(l, "#"))
		titles, lines = append(titles, title), append(lines, i+1)
	}
	return titles, lines
}

// githubAnchor is the anchor GitHub gives a heading: lower case, punctuation
// dropped, spaces as hyphens.
func githubAnchor(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

var sectionRef = regexp.MustCompile(`[Ss]ee \*([^*]+)\*(?:,? (below|above))?`)

// Links to a heading (#anchor, in the same file or another) name a heading
// that is there, and "see *Section*" names a section of the same document, in
// the direction "below" or "above" says.
func TestDocsLinksAndSectionReferencesResolve(t *testing.T) {
	for _, name := range userDocs(t) {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
			target, anchor, ok := strings.Cut(m[1], "#")
			if !ok || strings.Contains(target, "://") {
				continue
			}
			file := name
			if target != "" {
				file = filepath.Join(filepath.Dir(name), filepath.FromSlash(target))
			}
			tb, err := os.ReadFile(file)
			if err != nil {
				continue // TestDocsStayInsideTheRepository names it
			}
			titles, _ := headings(string(tb))
			found := strings.Contains(string(tb), `<a id="`+anchor+`">`) // an anchor written out
			for _, h := range titles {
				found = found || githubAnchor(h) == anchor
			}
			if !found {
				t.Errorf("%s links to %s: %s has no heading with the anchor #%s", name, m[1], file, anchor)
			}
		}
		titles, at := headings(text)
		lines := strings.Split(text, "\n")
		for i, l := range lines {
			for _, m := range sectionRef.FindAllStringSubmatch(l, -1) {
				ref, dir := m[1], m[2]
				where := -1
				for j, h := range titles {
					if h == ref || strings.HasPrefix(h, ref+" ") || strings.HasPrefix(h, ref+":") {
						where = at[j]
					}
				}
				switch {
				case where < 0:
					t.Errorf("%s:%d: see *%s*: no heading of that name in %s", name, i+1, ref, name)
				case dir == "below" && where < i+1:
					t.Errorf("%s:%d: see *%s* below: it is above (line %d)", name, i+1, ref, where)
				case dir == "above" && where > i+1:
					t.Errorf("%s:%d: see *%s* above: it is below (line %d)", name, i+1, ref, where)
				}
			}
		}
	}
}

// The README's Layout names every package of the module (go list ./...), so a
// newcomer finds each one there.
func TestReadmeLayoutNamesEveryPackage(t *testing.T) {
	out, err := exec.Command("go", "list", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, layout, _ := strings.Cut(string(raw), "## Layout")
	layout, _, _ = strings.Cut(layout, "\n## ")
	const module = "github.com/exportguard/exportguard"
	for _, pkg := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
		if rel == "" {
			rel = "main.go"
		}
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(rel) + `\s`).MatchString(layout) {
			t.Errorf("README Layout does not name %s", rel)
		}
	}
}
