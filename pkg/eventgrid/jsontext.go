package eventgrid

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/exportguard/exportguard/internal/fastjson"
)

// str reads a JSON string: fastjson.String.
func str(raw json.RawMessage) (string, bool) { return fastjson.String(raw) }

// text reads an optional field leniently: anything but a string reads as "".
func text(raw json.RawMessage) string {
	s, _ := str(raw)
	return strings.TrimSpace(s)
}

// required reads an attribute that must be a non-empty string, trimmed.
func required(name string, raw json.RawMessage) (string, error) {
	s, err := optional(name, raw)
	if err == nil && s == "" {
		err = fmt.Errorf("missing %s", name)
	}
	return s, err
}

// optional reads an attribute that must be a string when present, trimmed.
func optional(name string, raw json.RawMessage) (string, error) {
	s, ok := str(raw)
	if !ok {
		return "", fmt.Errorf("%s is not a string", name)
	}
	return strings.TrimSpace(s), nil
}

func isString(raw json.RawMessage) bool {
	b := bytes.TrimSpace(raw)
	return len(b) > 0 && b[0] == '"'
}

// decodeData reads an event's data into v, which must point to a zero value.
// Absent or null data leaves v as it is. Data must otherwise be a JSON object;
// inside it, a field of an unexpected type is skipped and the rest is still read
// (the caller falls back where it can).
func decodeData[T any](data json.RawMessage, v *T) error {
	b := bytes.TrimSpace(data)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] != '{' {
		return errors.New("data is not a JSON object")
	}
	err := fastjson.Unmarshal(b, v)
	if err == nil {
		return nil // valid JSON, read without a type error
	}
	// fastjson.Unmarshal's error and partial value are encoding/json's, which checks the
	// whole input before it decodes any of it: invalid data leaves v zero.
	if !json.Valid(b) {
		return errors.New("data is not a JSON object")
	}
	if _, ok := errors.AsType[*json.UnmarshalTypeError](err); !ok {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}

// parseTime reads a time the way both schemas write it: RFC 3339, often with seven
// fractional digits.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q is not RFC 3339", s)
	}
	return t, nil
}
