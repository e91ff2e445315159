package policyfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
)

// readRoster reads the screened-persons roster: a list of principal object IDs,
// or the name of a file holding one per line (# starts a comment). Its errors
// name the file and line, never the entry: a roster is about people.
func readRoster(raw json.RawMessage, dir string) ([]string, error) {
	var ids []string
	if err := json.Unmarshal(raw, &ids); err == nil {
		for i, id := range ids {
			if !isGUID(strings.TrimSpace(id)) {
				return nil, keyErr("not an object ID", "roster", fmt.Sprintf("[%d]", i))
			}
			ids[i] = strings.ToLower(strings.TrimSpace(id))
		}
		return ids, nil
	}
	var name string
	if err := json.Unmarshal(raw, &name); err != nil {
		return nil, keyErr("want a list of object IDs or the name of a file of them", "roster")
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
