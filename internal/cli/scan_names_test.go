package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/resourcegraph/rgtest"
)

// TestScanNamesSubscriptionsInTheReport: a scan keeps the display names
// Resource Graph gives the subscriptions' own rows, and `report` shows each
// subscription by its name with its ID; a subscription whose row names none
// is shown by its ID. The names are not resources: the next scan neither
// takes them as gone nor reads them from ARM.
func TestScanNamesSubscriptionsInTheReport(t *testing.T) {
	t.Parallel()
	const name = "ITAR Engineering"
	tests := []struct {
		name    string
		names   map[string]string        // display names at the baseline
		then    func(srv *rgtest.Server) // before a second scan (nil: no second scan)
		wantMD  []string                 // in `report --format md`
		wantWeb []string                 // in the HTML report
		notIn   []string                 // in neither
	}{
		{name: "named and unnamed", names: map[string]string{scanSubA: name},
			wantMD:  []string{"#### Subscription " + name + " (" + scanSubA + "):", "#### Subscription " + scanSubB + ":", "| " + name + " (" + scanSubA + ") | 1 |", "| " + scanSubB + " | 1 |"},
			wantWeb: []string{`subscription <strong data-testid="sub-name">` + name + `</strong> (<span class="id">` + scanSubA + `</span>):`, `subscription <span class="id">` + scanSubB + `</span>:`, `<th scope="row" title="` + scanSubA + `">` + name + `</th>`}},
		{name: "renamed: the next scan's name", names: map[string]string{scanSubA: "Engineering (old)"},
			then:    func(srv *rgtest.Server) { srv.SetSubscriptionName(scanSubA, name) },
			wantMD:  []string{"#### Subscription " + name + " (" + scanSubA + "):"},
			wantWeb: []string{`<strong data-testid="sub-name">` + name + `</strong>`},
			notIn:   []string{"Engineering (old)"}},
		{name: "not shown by the next scan: the name kept stays", names: map[string]string{scanSubA: name},
			then:    func(srv *rgtest.Server) { srv.Hide(scanSubA) },
			wantMD:  []string{"#### Subscription " + name + " (" + scanSubA + "):"},
			wantWeb: []string{`<strong data-testid="sub-name">` + name + `</strong>`}},
		{name: "markup in a name is text", names: map[string]string{scanSubA: `R&D <img src=x>`},
			wantMD:  []string{"#### Subscription R&D &lt;img src=x&gt; (" + scanSubA + "):"},
			wantWeb: []string{`<strong data-testid="sub-name">R&amp;D &lt;img src=x&gt;</strong>`},
			notIn:   []string{"<img src=x>"}},
		{name: "a name that is the subscription's ID is no name", names: map[string]string{scanSubA: strings.ToUpper(scanSubA)},
			wantMD:  []string{"#### Subscription " + scanSubA + ":"},
			wantWeb: []string{`subscription <span class="id">` + scanSubA + `</span>:`},
			notIn:   []string{strings.ToUpper(scanSubA)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := rgtest.New()
			defer srv.Close()
			srv.Put(outOfUS(scanAccount(scanSubA, "stitar")))
			srv.Put(outOfUS(scanAccount(scanSubB, "stpartner")))
			for sub, n := range tt.names {
				srv.SetSubscriptionName(sub, n)
			}
			store := "sqlite:" + filepath.Join(t.TempDir(), "scan.db")
			args := []string{"--subscription", scanSubA, "--subscription", scanSubB}
			if run := runScanCommand(t, srv, store, args...); run.err != nil {
				t.Fatalf("baseline scan: %v\n%s", run.err, run.stderr)
			}
			if tt.then != nil {
				tt.then(srv)
				run := runScanCommand(t, srv, store, args...)
				if run.err != nil {
					t.Fatalf("second scan: %v\n%s", run.err, run.stderr)
				}
				// Every account is still listed: nothing known is missing,
				// the kept names included.
				if !strings.Contains(run.stderr, " 0 of 0 known resource(s) no longer listed") {
					t.Errorf("the second scan took something known as no longer listed:\n%s", run.stderr)
				}
			}
			for _, sub := range []string{scanSubA, scanSubB} {
				if n := srv.ReadsOf(guard.SubscriptionNameID(sub)); n != 0 {
					t.Errorf("%d ARM reads of %s's name, want none", n, sub)
				}
			}

			md, stderr, err := run(t, "report", "--store", store, "--format", "md")
			if err != nil {
				t.Fatalf("report --format md: %v\n%s", err, stderr)
			}
			web, stderr, err := run(t, "report", "--store", store)
			if err != nil {
				t.Fatalf("report: %v\n%s", err, stderr)
			}
			for _, w := range tt.wantMD {
				if !strings.Contains(md, w) {
					t.Errorf("the Markdown report lacks %q", w)
				}
			}
			for _, w := range tt.wantWeb {
				if !strings.Contains(web, w) {
					t.Errorf("the HTML report lacks %q", w)
				}
			}
			for _, n := range tt.notIn {
				if strings.Contains(md, n) || strings.Contains(web, n) {
					t.Errorf("the report shows %q", n)
				}
			}
			if t.Failed() {
				t.Logf("Markdown report:\n%s", md)
			}
		})
	}
}
