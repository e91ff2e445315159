package slack_test

import (
	"context"
	"encoding/json"
	"flag"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/notify"
	"github.com/exportguard/exportguard/pkg/notify/notifytest"
	"github.com/exportguard/exportguard/pkg/slack"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func newSender(url string, st guard.Store) (*notify.Sender, error) {
	c := slack.Config{URL: url, Testing: notifytest.NoWait()}
	if st != nil {
		c.Ledger, c.Outbox = st, st
	}
	return slack.NewSender(c)
}

// Every message is posted to a loopback server and compared byte for byte
// with its golden file.
func TestMessagesSentMatchGolden(t *testing.T) {
	st, err := sqlite.Open(context.Background(), sqlite.Memory)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got := notifytest.PostCases(t, notify.KindSlack, newSender, true, st)
	for _, name := range notifytest.Sorted(got) {
		req := got[name]
		if req.ContentType != "application/json" {
			t.Errorf("%s: Content-Type %q", name, req.ContentType)
		}
		checkBlockKit(t, name, req.Body)
	}
	notifytest.MatchGolden(t, got, *update, "message")
}

// checkBlockKit holds a message to the Block Kit limits Slack enforces.
func checkBlockKit(t *testing.T, name string, body []byte) {
	t.Helper()
	var p struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type, Text string
			} `json:"text"`
			Fields   []struct{ Type, Text string } `json:"fields"`
			Elements []json.RawMessage             `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if p.Text == "" || len(p.Blocks) == 0 || len(p.Blocks) > 50 {
		t.Errorf("%s: text %q and %d blocks: want a fallback text and 1 to 50 blocks", name, p.Text, len(p.Blocks))
	}
	for i, b := range p.Blocks {
		switch b.Type {
		case "header":
			if b.Text == nil || b.Text.Type != "plain_text" || len([]rune(b.Text.Text)) > 150 {
				t.Errorf("%s: block %d: a header takes plain_text of at most 150 characters", name, i)
			}
		case "section":
			if (b.Text == nil) == (len(b.Fields) == 0) && b.Text == nil {
				t.Errorf("%s: block %d: a section needs text or fields", name, i)
			}
			if b.Text != nil && len([]rune(b.Text.Text)) > 3000 || len(b.Fields) > 10 {
				t.Errorf("%s: block %d: over the section limits", name, i)
			}
		case "context", "actions":
			if len(b.Elements) == 0 || len(b.Elements) > 10 {
				t.Errorf("%s: block %d: %d elements", name, i, len(b.Elements))
			}
		case "divider":
		default:
			t.Errorf("%s: block %d: type %q", name, i, b.Type)
		}
	}
	if strings.Contains(string(body), "<!") {
		t.Errorf("%s: a special mention (<!…>) reached the message", name)
	}
}

func TestTextIsEscaped(t *testing.T) {
	m := notifytest.Cases(t)[0].Message
	m.Finding.Message = "Storage account <!channel> & co replicates"
	m.Resource.Name = "a>b"
	b, err := slack.Render("x", m)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b.Data)
	if strings.Contains(s, "<!channel>") || !strings.Contains(s, "&lt;!channel&gt; &amp; co") || !strings.Contains(s, "|a&gt;b>") {
		t.Errorf("text from resources must be escaped:\n%s", s)
	}
}
