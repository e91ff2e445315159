package session

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// The reader's one rule: a line that is not a session line, too long or not
// parsed, is a *BadLineError with its number, and the lines after it are read.
func TestReaderReportsBadLinesAndGoesOn(t *testing.T) {
	const clock = `{"source":"clock","at":"2026-11-02T11:00:00Z"}`
	long := `{"source":"clock","at":"2026-11-02T11:00:00Z","pad":"` + strings.Repeat("x", MaxLineBytes) + `"}`
	justFits := `{"source":"clock","at":"2026-11-02T11:00:00Z","pad":"` + strings.Repeat("x", MaxLineBytes-len(clock)-10) + `"}`
	if len(justFits) > MaxLineBytes {
		t.Fatalf("test line of %d bytes", len(justFits))
	}
	type want struct {
		n   int
		bad string // the reason, "" for a line read
	}
	tests := []struct {
		name    string
		session string
		want    []want
	}{
		{"good lines, blank lines, no final newline", clock + "\n\n  \r\n" + clock, []want{{1, ""}, {4, ""}}},
		{"CRLF", clock + "\r\n" + clock + "\r\n", []want{{1, ""}, {2, ""}}},
		{"over-long line in the middle", clock + "\n" + long + "\n" + clock + "\n", []want{{1, ""}, {2, "line longer than"}, {3, ""}}},
		{"over-long last line without newline", clock + "\n" + long, []want{{1, ""}, {2, "line longer than"}}},
		{"a line of the limit", justFits + "\n" + clock, []want{{1, ""}, {2, ""}}},
		{"malformed", "{\n" + clock + "\n" + `{"source":"kafka"}`, []want{{1, "not a JSON object"}, {2, ""}, {3, `source "kafka"`}}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One byte at a time as well as whole: the limit does not depend on how the bytes arrive.
			for _, in := range []io.Reader{strings.NewReader(tt.session), iotest.HalfReader(strings.NewReader(tt.session))} {
				r := NewReader(in)
				var got []want
				for range 10 {
					l, err := r.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if bad, ok := errors.AsType[*BadLineError](err); ok {
						if bad.Line != r.N() {
							t.Errorf("BadLineError.Line %d, N %d", bad.Line, r.N())
						}
						got = append(got, want{bad.Line, bad.Error()})
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
					if l.Source != SourceClock {
						t.Errorf("line %d: %+v", r.N(), l)
					}
					got = append(got, want{r.N(), ""})
				}
				if len(got) != len(tt.want) {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
				for i := range got {
					if got[i].n != tt.want[i].n || !strings.Contains(got[i].bad, tt.want[i].bad) || (tt.want[i].bad == "") != (got[i].bad == "") {
						t.Errorf("line %d: got %+v, want %+v", i, got[i], tt.want[i])
					}
				}
			}
		})
	}
}

func TestReaderReadError(t *testing.T) {
	r := NewReader(iotest.ErrReader(errors.New("disk gone")))
	if _, err := r.Next(); err == nil || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "disk gone") {
		t.Errorf("Next = %v, want the read error", err)
	}
}
