package policyfile

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/exportguard/exportguard/pkg/guard"
)

// file is the policy file's shape: every key optional, so that a key the file
// leaves out (or gives as null) keeps the default.
type file struct {
	Cloud              *string
	AllowedRegions     []string
	AllowedGeographies []string
	Scope              *guard.Scope
	Rules              []ruleKeys // in the order the file gives them
	Roster             *yaml.Node
	Exemptions         []guard.Exemption
	Remediation        *guard.RemediationPolicy
	Notify             *guard.Notify
	CustomRules        []guard.CustomRule // nil: not given (keep the default's); [] none
}

// ruleKeys is one rule's entry: its ID and its keys, read in mergeRule.
// offIsMode is offWord's answer for the rules key as written.
type ruleKeys struct {
	id        string
	keys      []keyValue
	offIsMode bool
}

type keyValue struct {
	key string
	val *yaml.Node
}

// decodeFile reads the document's root node into a file. Keys match without
// case, as they always have; a key the policy does not know, or a value of the
// wrong shape, is refused naming its key.
func decodeFile(root *yaml.Node) (*file, error) {
	var f file
	if root == nil || isNull(root) {
		return &f, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, &KeyError{Line: root.Line, Msg: "a policy is a mapping of keys (cloud, allowedRegions, rules, …), not " + shape(root)}
	}
	return &f, eachKey(root, nil, func(name string, v *yaml.Node, at []string) error {
		var err error
		switch name {
		case "cloud":
			f.Cloud, err = textPtr(v, at)
		case "allowedRegions":
			f.AllowedRegions, err = texts(v, at)
		case "allowedGeographies":
			f.AllowedGeographies, err = texts(v, at)
		case "scope":
			f.Scope, err = scope(v, at)
		case "rules":
			f.Rules, err = rules(v, at)
		case "roster":
			if !isNull(v) {
				f.Roster = v
			}
		case "exemptions":
			f.Exemptions, err = exemptions(v, at)
		case "remediation":
			f.Remediation, err = remediation(v, at)
		case "notify":
			f.Notify, err = notify(v, at)
		case "customRules":
			f.CustomRules, err = customRules(v, at)
		default:
			err = unknownKey(at)
		}
		return err
	}, "cloud", "allowedRegions", "allowedGeographies", "scope", "rules", "roster", "exemptions", "remediation", "notify", "customRules")
}

func scope(n *yaml.Node, at []string) (*guard.Scope, error) {
	if isNull(n) {
		return nil, nil
	}
	s := &guard.Scope{}
	return s, eachKey(n, at, func(name string, v *yaml.Node, at []string) (err error) {
		if name != "subscriptions" {
			return unknownKey(at)
		}
		s.Subscriptions, err = texts(v, at)
		return err
	}, "subscriptions")
}

// rules reads the rules mapping; each rule's own keys are read by mergeRule.
func rules(n *yaml.Node, at []string) ([]ruleKeys, error) {
	n = deref(n)
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, wrongShape(n, "a mapping of rule IDs", at)
	}
	var out []ruleKeys
	for i := 0; i+1 < len(n.Content); i += 2 {
		id, v := n.Content[i].Value, deref(n.Content[i+1])
		r := ruleKeys{id: id, offIsMode: offWord(at)}
		switch {
		case isNull(v):
		case v.Kind != yaml.MappingNode:
			return nil, wrongShape(v, "a mapping of mode, severity, maxDuration, grace, silence", appendPath(at, id))
		default:
			for j := 0; j+1 < len(v.Content); j += 2 {
				r.keys = append(r.keys, keyValue{v.Content[j].Value, v.Content[j+1]})
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func exemptions(n *yaml.Node, at []string) ([]guard.Exemption, error) {
	items, err := list(n, at)
	if items == nil || err != nil {
		return nil, err
	}
	out := make([]guard.Exemption, len(items))
	for i, item := range items {
		e := &out[i]
		if isNull(item) {
			continue // an empty exemption, refused by validate for what it lacks
		}
		err := eachKey(item, appendPath(at, fmt.Sprintf("[%d]", i)), func(name string, v *yaml.Node, at []string) error {
			var err error
			switch name {
			case "resource":
				err = text(v, at, &e.Resource)
			case "rules":
				e.Rules, err = texts(v, at)
			case "expiresOn":
				err = timestamp(v, at, &e.ExpiresOn)
			case "reason":
				err = text(v, at, &e.Reason)
			case "approvedBy":
				err = text(v, at, &e.ApprovedBy)
			default:
				err = unknownKey(at)
			}
			return err
		}, "resource", "rules", "expiresOn", "reason", "approvedBy")
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func remediation(n *yaml.Node, at []string) (*guard.RemediationPolicy, error) {
	if isNull(n) {
		return nil, nil
	}
	r := &guard.RemediationPolicy{}
	return r, eachKey(n, at, func(name string, v *yaml.Node, at []string) error {
		if name != "mode" {
			return unknownKey(at)
		}
		if s := resolve(deref(v)); deref(v).Kind == yaml.ScalarNode && s.kind == kindBool && s.text == "false" && offWord(at) {
			r.Mode = guard.RemediationOff
			return nil
		}
		return text(v, at, &r.Mode)
	}, "mode")
}

func notify(n *yaml.Node, at []string) (*guard.Notify, error) {
	if isNull(n) {
		return nil, nil
	}
	nt := &guard.Notify{}
	return nt, eachKey(n, at, func(name string, v *yaml.Node, at []string) error {
		t := map[string]*guard.Target{"teams": &nt.Teams, "slack": &nt.Slack, "webhook": &nt.Webhook}[name]
		if t == nil {
			return unknownKey(at)
		}
		if isNull(v) {
			return nil
		}
		return eachKey(v, at, func(name string, v *yaml.Node, at []string) error {
			if name != "url" {
				return unknownKey(at)
			}
			return text(v, at, &t.URL)
		}, "url")
	}, "teams", "slack", "webhook")
}

// eachKey calls fn for each key of a mapping with the name it matches (without
// case, as the policy was always read) and its path; a key matching none is
// passed as written.
func eachKey(n *yaml.Node, at []string, fn func(name string, v *yaml.Node, at []string) error, names ...string) error {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return wrongShape(n, "a mapping", at)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i].Value
		name := key
		for _, known := range names {
			if strings.EqualFold(key, known) {
				name = known
				break
			}
		}
		if err := fn(name, n.Content[i+1], appendPath(at, key)); err != nil {
			return err
		}
	}
	return nil
}

// text reads a text field: YAML 1.1 truth values and numbers become their text
// (see yaml11.go); null leaves the field as it was.
func text(n *yaml.Node, at []string, dst *string) error {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		return wrongShape(n, "text", at)
	}
	if s := resolve(n); s.kind != kindNull {
		*dst = s.text
	}
	return nil
}

func textPtr(n *yaml.Node, at []string) (*string, error) {
	if isNull(n) {
		return nil, nil
	}
	var s string
	return &s, text(n, at, &s)
}

// texts reads a list of text; null is no list, [] an empty one.
func texts(n *yaml.Node, at []string) ([]string, error) {
	items, err := list(n, at)
	if items == nil || err != nil {
		return nil, err
	}
	out := make([]string, len(items))
	for i, item := range items {
		if err := text(item, appendPath(at, fmt.Sprintf("[%d]", i)), &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// list returns a sequence's items (not nil, for []), or nil for null.
func list(n *yaml.Node, at []string) ([]*yaml.Node, error) {
	n = deref(n)
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, wrongShape(n, "a list", at)
	}
	items := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		items[i] = deref(c)
	}
	return items, nil
}

// timestamp reads an RFC 3339 time, as the policy always has; a date alone is
// not one (DESIGN 3.5 asks for the time as well).
func timestamp(n *yaml.Node, at []string, dst *time.Time) error {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		return wrongShape(n, "an RFC 3339 time (2027-06-30T00:00:00Z)", at)
	}
	s := resolve(n)
	switch s.kind {
	case kindNull:
		return nil
	case kindText:
		if err := dst.UnmarshalText([]byte(s.text)); err != nil {
			return keyErr(fmt.Sprintf("want an RFC 3339 time (2027-06-30T00:00:00Z): %v", err), at...)
		}
		return nil
	}
	return wrongShape(n, "an RFC 3339 time (2027-06-30T00:00:00Z)", at)
}

// offWord reports whether a bare off (no, n, false) under this key is the mode
// off (DESIGN 3.5) rather than false. The YAML 1.1 reading made that exception
// only under the keys rules and remediation spelt exactly so, and then only for
// a key spelt mode; under Rules or Remediation, false stayed false and was
// refused. That is kept as it was, so that no policy changes meaning.
func offWord(at []string) bool {
	return len(at) > 0 && (at[0] == "rules" || at[0] == "remediation") && (len(at) < 2 || at[len(at)-1] == "mode")
}

// deref follows an alias to the node it names.
func deref(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n.Kind == 0 || n.Kind == yaml.ScalarNode && resolve(n).kind == kindNull
}

func appendPath(at []string, p string) []string { return append(at[:len(at):len(at)], p) }

func unknownKey(at []string) error { return keyErr("unknown key", at...) }

func wrongShape(n *yaml.Node, want string, at []string) error {
	return keyErr(fmt.Sprintf("want %s, not %s", want, shape(n)), at...)
}

// shape names what a node is, for a message.
func shape(n *yaml.Node) string {
	switch deref(n).Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch resolve(deref(n)).kind {
	case kindBool:
		return "true or false"
	case kindNumber:
		return "a number"
	case kindNull:
		return "nothing"
	}
	return "text"
}
