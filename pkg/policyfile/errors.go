package policyfile

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
)

// KeyError is a mistake in a policy file: the key it is about (as a path, e.g.
// rules / transit.tls / mode), the line it is on when known, and what is wrong.
type KeyError struct {
	Path []string
	Line int
	Msg  string
}

func (e *KeyError) Error() string {
	s := e.Msg
	if key := e.Key(); key != "" {
		s = key + ": " + s
	}
	if e.Line > 0 {
		s = fmt.Sprintf("line %d: %s", e.Line, s)
	}
	return s
}

// Key writes the path as a person reads it: rules.transit.tls.mode, exemptions[0].resource.
func (e *KeyError) Key() string {
	var b strings.Builder
	for i, p := range e.Path {
		if strings.HasPrefix(p, "[") {
			b.WriteString(p)
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

func keyErr(msg string, path ...string) *KeyError { return &KeyError{Path: path, Msg: msg} }

// locate sets the line of e from the YAML source, when the key is there.
func locate(src []byte, e *KeyError) {
	var doc yamlv3.Node
	if yamlv3.Unmarshal(src, &doc) != nil || len(doc.Content) == 0 {
		return
	}
	n := doc.Content[0]
	line := n.Line
	for _, p := range e.Path {
		next, l := child(n, p)
		if next == nil {
			break
		}
		n, line = next, l
	}
	e.Line = line
}

// child finds a mapping key (returning the value and the key's line) or a
// sequence item written "[i]".
func child(n *yamlv3.Node, p string) (*yamlv3.Node, int) {
	switch n.Kind {
	case yamlv3.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == p {
				return n.Content[i+1], n.Content[i].Line
			}
		}
	case yamlv3.SequenceNode:
		if i, err := strconv.Atoi(strings.Trim(p, "[]")); err == nil && strings.HasPrefix(p, "[") && i >= 0 && i < len(n.Content) {
			return n.Content[i], n.Content[i].Line
		}
	}
	return nil, 0
}

var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

// yamlError turns a decoding error into a KeyError naming the unknown key or
// the line, where the error says which.
func yamlError(src []byte, err error) error {
	msg := err.Error()
	if m := unknownField.FindStringSubmatch(msg); m != nil {
		e := keyErr("unknown key", m[1])
		if line := findKey(src, m[1]); line > 0 {
			e.Line = line
		}
		return e
	}
	return fmt.Errorf("read YAML: %s", strings.TrimPrefix(msg, "error converting YAML to JSON: "))
}

// findKey returns the line of the first mapping key with this name.
func findKey(src []byte, name string) int {
	var doc yamlv3.Node
	if yamlv3.Unmarshal(src, &doc) != nil {
		return 0
	}
	var walk func(n *yamlv3.Node) int
	walk = func(n *yamlv3.Node) int {
		if n.Kind == yamlv3.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == name {
					return n.Content[i].Line
				}
			}
		}
		for _, c := range n.Content {
			if l := walk(c); l > 0 {
				return l
			}
		}
		return 0
	}
	return walk(&doc)
}
