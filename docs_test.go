package main

import (
	"os"
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
