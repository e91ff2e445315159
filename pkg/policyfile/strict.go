package policyfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxDocuments bounds how many (empty) YAML documents a file may hold.
const maxDocuments = 100

// checkStructure refuses what the decode that follows would merge or drop without
// a word (DESIGN 3.5): a key given twice in one mapping at any depth (compared
// without case, as the decode matches keys), a YAML merge key (<<), and a second
// document with anything in it. It reads the file as yaml.v3 nodes, which keep
// every key and its line, and returns the first document's root (nil when the
// file holds nothing) for decodeFile.
func checkStructure(raw []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var root *yaml.Node
	for i := 0; ; i++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return root, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		switch {
		case i == 0:
			if err := checkKeys(&doc, nil); err != nil {
				return nil, err
			}
			if len(doc.Content) > 0 {
				root = doc.Content[0]
			}
		case !emptyDocument(&doc):
			return nil, &KeyError{Line: doc.Line, Msg: "a second YAML document starts here: a policy file is one document (this one would be ignored)"}
		case i >= maxDocuments:
			return nil, &KeyError{Line: doc.Line, Msg: fmt.Sprintf("more than %d YAML documents", maxDocuments)}
		}
	}
}

// emptyDocument reports whether a document holds nothing: only `---`, or comments.
func emptyDocument(doc *yaml.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return len(doc.Content) == 1 && n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == ""
}

// checkKeys walks a node, refusing a mapping that gives a key twice or merges
// another in. Aliases are not followed: what they name is checked where it is
// written, and a recursive alias cannot loop.
func checkKeys(n *yaml.Node, path []string) error {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := checkKeys(c, path); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := checkKeys(c, append(path[:len(path):len(path)], fmt.Sprintf("[%d]", i))); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return &KeyError{Path: path, Line: k.Line, Msg: "a key must be plain text"}
			}
			at := append(path[:len(path):len(path)], k.Value)
			if k.Tag == "!!merge" {
				return &KeyError{Path: at, Line: k.Line, Msg: "merge keys are not allowed in a policy: write each key out"}
			}
			if first, ok := seen[strings.ToLower(k.Value)]; ok {
				as := ""
				if first.Value != k.Value {
					as = fmt.Sprintf(" as %q", first.Value)
				}
				return &KeyError{Path: at, Line: k.Line, Msg: fmt.Sprintf("key given twice (first%s on line %d): a policy names each key once", as, first.Line)}
			}
			seen[strings.ToLower(k.Value)] = k
			if err := checkKeys(v, at); err != nil {
				return err
			}
		}
	}
	return nil
}
