package policyfile

import (
	"bufio"
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// readRoster reads the screened-persons roster: a list of principal object IDs,
// or the name of a file holding one per line (# starts a comment). Its errors
// name the file and line, never the entry: a roster is about people.
func readRoster(n *yaml.Node, dir string) ([]string, error) {
	ids, name, ok := rosterEntries(deref(n))
	if !ok {
		return nil, keyErr("want a list of object IDs or the name of a file of them", "roster")
	}
	if ids != nil {
		for i, id := range ids {
			if !isGUID(strings.TrimSpace(id)) {
				return nil, keyErr("not an object ID", "roster", fmt.Sprintf("[%d]", i))
			}
			ids[i] = strings.ToLower(strings.TrimSpace(id))
		}
		return ids, nil
	}
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	b, err := readLimited(path)
	if err != nil {
		return nil, keyErr(err.Error(), "roster")
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		if !isGUID(line) {
			// The line itself is not repeated: a roster may hold what should not be echoed.
			return nil, keyErr(fmt.Sprintf("%s line %d: not an object ID", name, n), "roster")
		}
		ids = append(ids, strings.ToLower(line))
	}
	return ids, nil
}

// rosterEntries reads the roster key: a list of text (ids, not nil for []; an
// empty item is "") or text (name). An unquoted number or truth value is neither.
func rosterEntries(n *yaml.Node) (ids []string, name string, ok bool) {
	switch n.Kind {
	case yaml.SequenceNode:
		ids = make([]string, len(n.Content))
		for i, c := range n.Content {
			c = deref(c)
			if c.Kind != yaml.ScalarNode {
				return nil, "", false
			}
			switch s := resolve(c); s.kind {
			case kindText:
				ids[i] = s.text
			case kindNull:
			default:
				return nil, "", false
			}
		}
		return ids, "", true
	case yaml.ScalarNode:
		if s := resolve(n); s.kind == kindText {
			return nil, s.text, true
		}
	}
	return nil, "", false
}
