package teams_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/notify"
	"github.com/exportguard/exportguard/pkg/notify/notifytest"
	"github.com/exportguard/exportguard/pkg/sqlite"
	"github.com/exportguard/exportguard/pkg/teams"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func newSender(url string, st guard.Store) (*notify.Sender, error) {
	c := teams.Config{URL: url, Testing: notifytest.NoWait()}
	if st != nil {
		c.Ledger, c.Outbox = st, st
	}
	return teams.NewSender(c)
}

// Every card is posted to a loopback server and compared byte for byte with
// its golden file: opened, reopened, resolved, exempted, exemption expired,
// remediation applied and failed, the notify test sample, a digest, in the
// public cloud and Azure Government.
func TestCardsSentMatchGolden(t *testing.T) {
	st, err := sqlite.Open(context.Background(), sqlite.Memory)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got := notifytest.PostCases(t, notify.KindTeams, newSender, true, st)
	for _, name := range notifytest.Sorted(got) {
		req := got[name]
		if req.ContentType != "application/json" {
			t.Errorf("%s: Content-Type %q", name, req.ContentType)
		}
	}
	notifytest.MatchGolden(t, got, *update, "card")
}

func TestGovernmentCardsLinkTheGovernmentPortal(t *testing.T) {
	for _, name := range []string{"opened-gov-approve", "exempted-gov", "remediation-applied-gov", "test-gov", "digest-gov"} {
		b, err := os.ReadFile(filepath.Join("testdata", "golden", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(`https://portal.azure.us/#@/resource/subscriptions/`)) || bytes.Contains(b, []byte("portal.azure.com")) {
			t.Errorf("%s: want links to portal.azure.us only", name)
		}
	}
	b, _ := os.ReadFile(filepath.Join("testdata", "golden", "opened-gov-approve.json"))
	for _, want := range []string{
		`"url": "https://exportguard.contoso.us/api/findings/b31901270671e48d031c53ebc84fa6f2/approve"`,
		`"url": "https://exportguard.contoso.us/api/findings/b31901270671e48d031c53ebc84fa6f2/deny"`,
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("opened-gov-approve lacks %s", want)
		}
	}
}

// Every card golden parses without an error or a warning in Microsoft's
// adaptivecards library (the renderer Microsoft publishes, pinned in
// package.json), run with node.
func TestCardsParseInAdaptiveCards(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: the cards are validated with the adaptivecards npm package (install Node.js 20 or later, then npm ci)")
	}
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no card goldens (%v)", err)
	}
	out, err := exec.Command(node, append([]string{filepath.Join("testdata", "validate.js")}, files...)...).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) || err != nil {
		t.Fatalf("adaptivecards validation failed (%v):\n%s", err, out)
	}
	if n := strings.Count(string(out), "\nok ") + boolInt(strings.HasPrefix(string(out), "ok ")); n != len(files) {
		t.Fatalf("validate.js reported %d valid card(s) of %d:\n%s", n, len(files), out)
	}
	t.Logf("%s", out)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
