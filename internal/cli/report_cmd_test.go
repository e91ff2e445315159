package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
)

// storageReplicationStore replays the storage-replication session (six open
// findings, one resolved: see its .covers) into a new SQLite store and returns
// the store's URL.
func storageReplicationStore(t *testing.T) string {
	t.Helper()
	url := "sqlite:" + filepath.Join(t.TempDir(), "report.db")
	if _, _, err := run(t, "replay", "--store", url, "testdata/sessions/storage-replication.ndjson"); err != nil {
		t.Fatal(err)
	}
	return url
}

const reportSub = "7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70"

var partnerxfer = "/subscriptions/" + reportSub + "/resourceGroups/rg-partner-xfer/providers/Microsoft.Storage/storageAccounts/partnerxfer"

// testid returns the text of the element with this data-testid.
func testid(t *testing.T, page, id string) string {
	t.Helper()
	m := regexp.MustCompile(`data-testid="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)<`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the page has no element with data-testid %q", id)
	}
	return m[1]
}

func TestReportFromSession(t *testing.T) {
	t.Parallel()
	store := storageReplicationStore(t)
	out := filepath.Join(t.TempDir(), "report.html")
	_, stderr, err := run(t, "report", "--store", store, "--now", "2026-11-02T12:00:00Z", "-o", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "report written to "+out+": 6 open, 0 exempt, 1 resolved") {
		t.Errorf("stderr: %s", stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)

	// Counts.
	for id, want := range map[string]string{
		"open-count": "6", "exempt-count": "0", "resolved-count": "1", "findings-count": "7",
		// The timeline's totals: seven openings (itardrawings, three on
		// partnerxfer, three on eudrbackup) and partnerxfer's replication resolved.
		"timeline-opened": "7", "timeline-resolved": "1",
		"ttd-n": "7", "ttr-n": "1", "grants-count": "0", "overstays-count": "0", "exemptions-count": "0",
	} {
		if got := testid(t, page, id); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
	for _, want := range []string{
		`<tr data-key="encryption.cmk"><th scope="row">encryption.cmk</th><td class="n" style="--w:100%">3</td></tr>`,
		`<tr data-key="residency.location"><th scope="row">residency.location</th><td class="n" style="--w:66%">2</td></tr>`,
		`<tr data-key="high"><th scope="row">high</th><td class="n" style="--w:100%">6</td></tr>`,
		`<tr data-key="` + reportSub + `"><th scope="row">` + reportSub + `</th><td class="n" style="--w:100%">6</td></tr>`,
		`<tr data-key="northeurope"><th scope="row">North Europe</th><td class="n" style="--w:100%">3</td></tr>`,
		`<tr data-key="westeurope"><th scope="row">West Europe</th><td class="n" style="--w:66%">2</td></tr>`,
		`<tr data-key="eastus"><th scope="row">East US</th><td class="n" style="--w:33%">1</td></tr>`,
		// Time to detect: 1.2s (three on partnerxfer), 1m 37s (itardrawings), 1m 46s
		// (three on eudrbackup) from the Activity Log or Event Grid event time;
		// time to remediate: partnerxfer's replication, 09:20:04 to 10:05:03.
		`<td class="num">1m 37s</td><td class="num">1m 46s</td><td class="num">1m 46s</td><td class="num">1m 46s</td>`,
		`<td class="num" data-testid="ttr-n">1</td><td class="num">44m 59s</td>`,
		// Where data lives: the two European accounts, and eudrbackup's replica in West Europe.
		`<tr data-region="westeurope"><th scope="row">West Europe</th><td>Europe</td><td><span class="notallowed">NO</span></td><td class="num">1</td><td class="num">1</td><td class="num">2</td></tr>`,
		`<tr data-region="eastus"><th scope="row">East US</th><td>United States</td><td>yes</td><td class="num">1</td><td class="num">0</td><td class="num">1</td></tr>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}

	// A known finding's row: partnerxfer's replication, resolved when converted to LRS.
	id := guard.FindingID(guard.RuleResidencyReplication, partnerxfer, "")
	m := regexp.MustCompile(`(?s)<tr data-testid="finding-row" data-finding-id="` + id + `"[^>]*>(.*?)</tr>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no row for finding %s", id)
	}
	for _, want := range []string{
		`<td class="status-resolved">resolved</td><td class="sev-high">high</td>`,
		`<td><a href="https://portal.azure.com/#@/resource` + partnerxfer + `" title="` + partnerxfer + `">partnerxfer</a></td><td>rg-partner-xfer</td><td>West Europe</td>`,
		// Who changed it: the caller of the change that opened it.
		`<td title="bob.okafor@contoso.com">bob.okafor@contoso.com</td>`, `>2026-11-02 09:20:04 UTC</time>`, `>2026-11-02 10:05:03 UTC</time>`,
		`Storage account partnerxfer replicates (Standard_RAGRS) to northeurope, outside the allowed geographies United States.`,
	} {
		if !strings.Contains(m[1], want) {
			t.Errorf("partnerxfer's replication row lacks %s:\n%s", want, m[1])
		}
	}
	// Resolved rows come after the open ones.
	if rows := strings.Count(page, `data-testid="finding-row"`); rows != 7 || strings.LastIndex(page, `data-status="open"`) > strings.Index(page, `data-status="resolved"`) {
		t.Errorf("%d finding rows, or a resolved row before an open one", rows)
	}
	// The timeline's rows add up to its totals.
	body := regexp.MustCompile(`(?s)<table data-testid="timeline-table">.*?<tbody>(.*?)</tbody>(.*?)</table>`).FindStringSubmatch(page)
	if body == nil {
		t.Fatal("no timeline table")
	}
	opened, resolved := 0, 0
	for _, r := range regexp.MustCompile(`</th><td class="num">(\d+)</td><td class="num">(\d+)</td><td class="num">\d+</td></tr>`).FindAllStringSubmatch(body[1], -1) {
		o, _ := strconv.Atoi(r[1])
		c, _ := strconv.Atoi(r[2])
		opened, resolved = opened+o, resolved+c
	}
	if opened != 7 || resolved != 1 || !strings.Contains(body[2], `<th scope="row">total</th><td class="num">7</td><td class="num">1</td><td></td>`) {
		t.Errorf("timeline rows add up to %d opened, %d resolved; want 7 and 1, as its total row says\n%s", opened, resolved, body[0])
	}
}

func TestReportMarkdownFromSession(t *testing.T) {
	t.Parallel()
	store := storageReplicationStore(t)
	out, _, err := run(t, "report", "--store", store, "--format", "md", "--now", "2026-11-02T12:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"**6 open**, 0 exempt, 1 resolved; 7 finding(s) in all.",
		"| encryption.cmk | 3 |",
		"| North Europe | 3 |",
		"| **total** | **7** | **1** |",
		"| time to detect | 7 | 1m 37s | 1m 46s | 1m 46s | 1m 46s |",
		"| time to remediate | 1 | 44m 59s | 44m 59s | 44m 59s | 44m 59s |",
		"### `residency.replication`: **1 open** (worst: high), 0 exempt, 1 resolved",
		"#### Subscription " + reportSub + ": **1 open** (worst: high), 0 exempt, 1 resolved",
		"| resolved | high | [partnerxfer](https://portal.azure.com/#@/resource" + partnerxfer + ") | rg-partner-xfer | West Europe | bob.okafor@contoso.com | — |" +
			" 2026-11-02 09:20:04 UTC | 2026-11-02 10:05:03 UTC | Storage account partnerxfer replicates",
		"| West Europe | Europe | **NO** | 1 | 1 | 2 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, out)
		}
	}
}

func TestReportSinceAndExemptions(t *testing.T) {
	t.Parallel()
	url := "sqlite:" + filepath.Join(t.TempDir(), "ex.db")
	pol := "testdata/sessions/exemption-expiry.policy.yaml"
	if _, _, err := run(t, "replay", "--store", url, "--policy", pol, "testdata/sessions/exemption-expiry.ndjson"); err != nil {
		t.Fatal(err)
	}
	// Since 11:00: only the two findings the expired exemption let open at 12:00.
	out, _, err := run(t, "report", "--store", url, "--policy", pol, "--format", "md", "--now", "2026-11-02T13:00:00Z", "--since", "2h")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"period: since 2026-11-02 11:00:00 UTC.",
		"| **total** | **2** | **0** |",
		"| `/subscriptions/" + reportSub + "/resourceGroups/rg-partner-xfer` | residency.replication, residency.location | 2026-11-02 12:00:00 UTC | expired 1h ago | 0 | 2 | licence D-1187, partner data exchange | export.officer@contoso.com |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, out)
		}
	}
}

func TestReportRefusesBadArguments(t *testing.T) {
	t.Parallel()
	store := storageReplicationStore(t)
	for _, args := range [][]string{
		{"report", "--store", store, "--format", "pdf"},
		{"report", "--store", store, "--since", "yesterday"},
		{"report", "--store", store, "--now", "noon"},
		{"report", "--store", "sqlite:" + filepath.Join(t.TempDir(), "none.db")},
		{"report", "--store", "memory:"},
		{"report", "--store", store, "--policy", "testdata/no-such-policy.yaml"},
		{"report", "--store", store, "extra"},
	} {
		if _, _, err := run(t, args...); err == nil {
			t.Errorf("exportguard %s: want an error", strings.Join(args, " "))
		}
	}
	out, _, err := run(t, "report", "--help")
	if err != nil || !strings.Contains(out, "Usage:") {
		t.Errorf("report --help: %v\n%s", err, out)
	}
}
