package eventgrid

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	cloudevent "github.com/cloudevents/sdk-go/v2/event"

	"github.com/exportguard/exportguard/internal/fastjson"
)

// fromCloudEvent reads a CloudEvents 1.0 event with the CloudEvents SDK. The
// Microsoft.Resources spec examples spell the key "specVersion" (research note
// §2.3), which the SDK would take for an extension, so the key is renamed first.
func fromCloudEvent(attrs map[string]json.RawMessage) (event, error) {
	attrs, err := renameSpecVersion(attrs)
	if err != nil {
		return event{}, err
	}
	// The SDK slices data_base64 as a quoted string without checking that it is one.
	if b64, ok := attrs["data_base64"]; ok && !isString(b64) {
		return event{}, errors.New("data_base64 is not a string")
	}
	ce, err := readCloudEvent(encodeAttrs(attrs))
	if err != nil {
		return event{}, fmt.Errorf("cloudevent: %s", describe(err))
	}
	if err := ce.Validate(); err != nil {
		return event{}, fmt.Errorf("invalid cloudevent: %s", describe(err))
	}
	if v := ce.SpecVersion(); v != cloudevent.CloudEventsVersionV1 {
		return event{}, fmt.Errorf("cloudevent specversion %q, want %s", v, cloudevent.CloudEventsVersionV1)
	}
	// The SDK keeps source as a URI reference, escaped ("{" becomes "%7B"); an
	// ARM ID is wanted as written.
	source := ce.Source()
	if s, err := url.PathUnescape(source); err == nil {
		source = s
	}
	e := event{ID: ce.ID(), Type: ce.Type(), Source: source, Subject: ce.Subject(), Time: ce.Time(), Data: ce.Data()}
	if data, ok := attrs["data"]; ok && isJSONMedia(ce.DataMediaType()) {
		e.Data = data // as written: the SDK holds the same JSON, re-encoded
	}
	return e, nil
}

// encodeAttrs writes the attributes as the SDK reads them: the bytes a
// json.Encoder with SetEscapeHTML(false) writes for the map (keys sorted, values
// compacted, a newline after), which is what this package gave the SDK before
// issue 8. The encoder found that by reflection, sorted reflect values and
// compacted every value with encoding/json's scanner; this does the same work
// directly, about a third of what fromCloudEvent cost. The SDK reads the
// attributes in the order written and tells its errors by byte offset, so
// FuzzEncodeAttrs holds the bytes equal to the encoder's. Values are valid JSON:
// they come from fastjson.Unmarshal.
func encodeAttrs(attrs map[string]json.RawMessage) []byte {
	if attrs == nil {
		return []byte("null\n")
	}
	keys := make([]string, 0, len(attrs))
	n := 2
	for k, v := range attrs {
		keys = append(keys, k)
		n += len(k) + len(v) + 4
	}
	slices.Sort(keys)
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKey(b, k)
		b = append(b, ':')
		if v := attrs[k]; v == nil {
			b = append(b, "null"...) // what json.RawMessage's MarshalJSON says for nil
		} else {
			b = appendCompact(b, v)
		}
	}
	return append(b, '}', '\n')
}

// appendKey appends k as a JSON string, escaped as encoding/json escapes it
// without HTML escaping.
func appendKey(b []byte, k string) []byte {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			var buf bytes.Buffer // rare: let encoding/json escape it
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(k) // cannot fail for a string
			q := bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, k...)
	return append(b, '"')
}

// appendCompact appends the valid JSON v without the whitespace between its
// tokens, as json.Compact does.
func appendCompact(b, v []byte) []byte {
	start := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			i = fastjson.StringEnd(v, i)
		case ' ', '\t', '\n', '\r':
			b = append(b, v[start:i]...)
			start = i + 1
		}
	}
	return append(b, v[start:]...)
}

// renameSpecVersion returns the attributes with the spec version under its proper
// key, whatever its casing was.
func renameSpecVersion(attrs map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	var keys []string
	for k := range attrs {
		if strings.EqualFold(k, "specversion") {
			keys = append(keys, k)
		}
	}
	switch {
	case len(keys) > 1:
		slices.Sort(keys)
		return nil, fmt.Errorf("specversion given %d times (%s)", len(keys), strings.Join(keys, ", "))
	case len(keys) == 1 && keys[0] != "specversion":
		attrs["specversion"] = attrs[keys[0]]
		delete(attrs, keys[0])
	}
	return attrs, nil
}

// readCloudEvent runs the SDK's JSON reader. It recovers from a panic, because the
// input is untrusted and a Decoder must never panic, whatever its dependencies do.
func readCloudEvent(b []byte) (ce cloudevent.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cloudevents SDK failed on this event: %v", r)
		}
	}()
	err = ce.UnmarshalJSON(b)
	return ce, err
}

// describe renders an SDK error. A ValidationError is a map, so its own message
// changes order from run to run; the poison store wants one reason per input.
func describe(err error) string {
	var ve cloudevent.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	parts := make([]string, 0, len(ve))
	for k, v := range ve {
		parts = append(parts, k+": "+v.Error())
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// isJSONMedia reports whether the SDK treats data of this media type as JSON (the
// SDK's own test is unexported).
func isJSONMedia(mediaType string) bool {
	switch mediaType {
	case "", cloudevent.ApplicationJSON, cloudevent.TextJSON,
		cloudevent.ApplicationCloudEventsJSON, cloudevent.ApplicationCloudEventsBatchJSON:
		return true
	}
	return false
}
