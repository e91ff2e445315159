package policyfile

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Policies were first read with YAML 1.1 rules (through sigs.k8s.io/yaml), and
// a policy must mean tomorrow what it meant yesterday: an unquoted yes, no, on,
// off, y or n is true or false, 0777 is octal, and a number or a truth value
// written where text belongs becomes the text Go writes for it (reason: 1e3 is
// "1000", approvedBy: no is "false"). yaml.v3 reads YAML 1.2, where those words
// are text, so the few lines below read a plain scalar as YAML 1.1 did.

// kind is what a YAML 1.1 scalar resolves to.
type kind int

const (
	kindText kind = iota
	kindNull
	kindBool
	kindNumber
)

// scalar is a resolved scalar: its kind and the text a text field gets from it.
type scalar struct {
	kind kind
	text string
}

var (
	bool11 = map[string]bool{
		"y": true, "Y": true, "yes": true, "Yes": true, "YES": true,
		"true": true, "True": true, "TRUE": true, "on": true, "On": true, "ON": true,
		"n": false, "N": false, "no": false, "No": false, "NO": false,
		"false": false, "False": false, "FALSE": false, "off": false, "Off": false, "OFF": false,
	}
	null11  = map[string]bool{"": true, "~": true, "null": true, "Null": true, "NULL": true}
	float11 = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)
)

// resolve reads a scalar node (aliases already followed) as YAML 1.1 does. Only
// a plain scalar without a tag is resolved; quoted and block text is text.
func resolve(n *yaml.Node) scalar {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return scalar{kindText, n.Value}
	}
	if n.Style&yaml.TaggedStyle != 0 {
		switch n.ShortTag() {
		case "!!str":
			return scalar{kindText, n.Value}
		case "!!binary":
			if b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), "")); err == nil {
				return scalar{kindText, string(b)}
			}
			return scalar{kindText, n.Value}
		case "!!null", "!!bool", "!!int", "!!float", "!!timestamp":
		default:
			return scalar{kindText, n.Value}
		}
	}
	s := n.Value
	if null11[s] {
		return scalar{kind: kindNull}
	}
	if b, ok := bool11[s]; ok {
		return scalar{kindBool, strconv.FormatBool(b)}
	}
	switch s {
	case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF":
		return number(math.Inf(1))
	case "-.inf", "-.Inf", "-.INF":
		return number(math.Inf(-1))
	case ".nan", ".NaN", ".NAN":
		return number(math.NaN())
	}
	switch c := s[0]; {
	case c == '.':
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return number(f)
		}
	case c == '+' || c == '-' || (c >= '0' && c <= '9'):
		plain := strings.ReplaceAll(s, "_", "")
		if i, err := strconv.ParseInt(plain, 0, 64); err == nil {
			return number(float64(i))
		}
		if u, err := strconv.ParseUint(plain, 0, 64); err == nil {
			return number(float64(u))
		}
		if float11.MatchString(plain) {
			if f, err := strconv.ParseFloat(plain, 64); err == nil {
				return number(f)
			}
		}
	}
	return scalar{kindText, s} // a timestamp stays its text, as it did
}

// number gives the text a text field got from a number: the old path carried it
// through JSON (a float64), read it back, and wrote it as Go writes an integer
// or a float32 ("1.5", "1000", "1e+21", "3.1415927").
func number(f float64) scalar {
	j, err := json.Marshal(f)
	if err != nil { // ±Inf and NaN have no JSON form
		return scalar{kindNumber, strconv.FormatFloat(f, 'g', -1, 32)}
	}
	t := string(j)
	if i, err := strconv.ParseInt(t, 10, 64); err == nil {
		return scalar{kindNumber, strconv.FormatInt(i, 10)}
	}
	if u, err := strconv.ParseUint(t, 10, 64); err == nil {
		return scalar{kindNumber, strconv.FormatUint(u, 10)}
	}
	f, _ = strconv.ParseFloat(t, 64)
	return scalar{kindNumber, strconv.FormatFloat(f, 'g', -1, 32)}
}
