package policyfile

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
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
	var doc yaml.Node
	if yaml.Unmarshal(src, &doc) != nil || len(doc.Content) == 0 {
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
func child(n *yaml.Node, p string) (*yaml.Node, int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == p {
				return n.Content[i+1], n.Content[i].Line
			}
		}
	case yaml.SequenceNode:
		if i, err := strconv.Atoi(strings.Trim(p, "[]")); err == nil && strings.HasPrefix(p, "[") && i >= 0 && i < len(n.Content) {
			return n.Content[i], n.Content[i].Line
		}
	}
	return nil, 0
}
