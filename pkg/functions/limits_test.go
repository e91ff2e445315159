package functions

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exportguard/exportguard/internal/fastjson"
	"github.com/exportguard/exportguard/pkg/guard"
)

func TestHostBatchSize(t *testing.T) {
	tests := []struct {
		name, hostJSON string
		batch          int
		key, err       string
	}{
		{"extension 5.x and later", `{"extensions":{"eventHubs":{"maxEventBatchSize":8}}}`, 8, "extensions.eventHubs.maxEventBatchSize", ""},
		{"extension 3.x and 4.x", `{"extensions":{"eventHubs":{"eventProcessorOptions":{"maxBatchSize":64}}}}`, 64, "extensions.eventHubs.eventProcessorOptions.maxBatchSize", ""},
		{"both: the newer name wins", `{"extensions":{"eventHubs":{"maxEventBatchSize":8,"eventProcessorOptions":{"maxBatchSize":64}}}}`, 8, "extensions.eventHubs.maxEventBatchSize", ""},
		{"names in another case, as the host reads them", `{"Extensions":{"EventHubs":{"MaxEventBatchSize":16}}}`, 16, "extensions.eventHubs.maxEventBatchSize", ""},
		{"not set: the extension's default", `{"version":"2.0"}`, DefaultEventBatchSize, "", ""},
		{"zero", `{"extensions":{"eventHubs":{"maxEventBatchSize":0}}}`, 0, "", "maxEventBatchSize is 0"},
		{"not JSON", `{"extensions":`, 0, "", "host.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			batch, key, err := HostBatchSize([]byte(tt.hostJSON))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil || batch != tt.batch || key != tt.key {
				t.Errorf("= %d %q %v, want %d %q", batch, key, err, tt.batch, tt.key)
			}
		})
	}
	if got, want := BodyLimit(8), int64(8*(7<<20+4<<10)+64<<10); got != want {
		t.Errorf("BodyLimit(8) = %d, want %d", got, want)
	}
}

// literalLen decides which message bodies are too big to decode, so it must
// agree with what decoding them would give.
func TestLiteralLenIsTheDecodedLength(t *testing.T) {
	for _, s := range []string{
		`""`, `"abc"`, `"a\"b\\c\/d\n\t\r\b\f"`, `"\u0001\u00e9\u20ac"`, `"é€😀"`,
		`"\ud83d\ude00"`,       // a surrogate pair: 4 bytes
		`"\ud83d"`, `"\ude00"`, // lone surrogates: U+FFFD each
		`"\ud83d\u0041"`,            // a high surrogate before another escape
		`"\ud83dx"`, "\"\xff\xfe\"", // a lone surrogate before text; bytes that are not UTF-8
		"\"a\xe2\x82\"", // a cut UTF-8 sequence
		`"\uD83D\uDE00"`, `"\u00E9"`,
	} {
		dec, err := fastjson.Unquote([]byte(s))
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if got := literalLen([]byte(s)); got != len(dec) {
			t.Errorf("literalLen(%s) = %d, want %d (%q)", s, got, len(dec), dec)
		}
	}
	for _, v := range []string{`{"records":[]}`, `[1,2]`, `null`, `"\u12"`, `"unterminated`} {
		if got := literalLen([]byte(v)); got != len(v) {
			t.Errorf("literalLen(%s) = %d, want its length %d", v, got, len(v))
		}
	}
}

// poisonIngester is a batch ingester that keeps poison.
type poisonIngester struct {
	batchIngester
	mu     sync.Mutex
	poison []string
}

func (p *poisonIngester) KeepPoison(_ context.Context, src guard.Source, reason string, body []byte, _ time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.poison = append(p.poison, fmt.Sprintf("%s %s (%d bytes)", src, reason, len(body)))
	return nil
}

// A message body over MaxMessageBytes decoded is kept as poison, unread, and
// the batch's other bodies go to the pipeline; one at the limit goes on.
func TestOversizedMessageBodyIsPoison(t *testing.T) {
	ing := &poisonIngester{}
	h, _ := newTestHandler(t, ing, nil)
	atLimit := strings.Repeat("\u00e9", MaxMessageBytes/2)            // 1 MiB decoded
	over := strings.Repeat("\x01", MaxMessageBytes+1)                 // 6 bytes each once escaped
	arr, _ := json.Marshal([]string{`{"records":[]}`, over, atLimit}) // the host's string[]
	data, _ := json.Marshal(string(arr))
	body := []byte(`{"Data":{"events":` + string(data) + `},"Metadata":{}}`)
	a := checkAnswer(t, do(h, hostRequest("POST", "/activitylog", body)))
	want := fmt.Sprintf("eventhub message body 2 of the batch is %d bytes, over Event Hubs' %d-byte message limit; kept as the host sent it (escaped), not read (%d bytes)",
		MaxMessageBytes+1, MaxMessageBytes, 6*(MaxMessageBytes+1)+2)
	if len(ing.poison) != 1 || ing.poison[0] != want {
		t.Errorf("poison = %q, want [%q]", ing.poison, want)
	}
	if len(ing.calls) != 1 || len(ing.calls[0]) != 2 || ing.calls[0][0] != `{"records":[]}` || ing.calls[0][1] != atLimit {
		t.Errorf("the pipeline got %d batches, want one of the two other bodies", len(ing.calls))
	}
	if !strings.Contains(strings.Join(a.Logs, "\n"), "message body 2 of the batch is") {
		t.Errorf("Logs %q do not say which body was kept", a.Logs)
	}
	// The summary counts it as rejected, beside what the pipeline rejected.
	if a.Summary == nil || a.Summary.Rejected != 1 {
		t.Errorf("Summary = %+v, want 1 rejected", a.Summary)
	}
}
