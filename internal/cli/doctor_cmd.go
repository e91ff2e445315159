package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/cosmos"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/resourcemanager"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// exportguard doctor: checks a deployment or a local set-up and says, one line
// per check, what is right (OK), doubtful (WARN), wrong (FAIL) or not checked
// (SKIP), in plain words. It never prints a secret: no webhook URL, no key, no
// connection string (only the names of the settings that hold them).

type doctorLevel string

const (
	docOK   doctorLevel = "OK"
	docWarn doctorLevel = "WARN"
	docFail doctorLevel = "FAIL"
	docSkip doctorLevel = "SKIP"
)

// doctor runs the checks and writes one line per check as it is done: a
// table line (the message wrapped to the terminal), a JSON object or a csv row.
type doctor struct {
	app          *App
	out          io.Writer
	format       outputFormat
	width        int         // the table's; 0: no limit
	csv          *csv.Writer // with --format csv
	getenv       func(string) string
	host         bool // checked as an app under the Functions host (deployment or --settings)
	deployment   bool
	now          time.Time
	stale        time.Duration
	fails, warns int
}

// doctorCheck is one line of doctor's, as --format json prints it.
type doctorCheck struct {
	Level   doctorLevel `json:"level"`
	Check   string      `json:"check"`
	Message string      `json:"message"`
}

func (d *doctor) say(level doctorLevel, check, format string, args ...any) {
	switch level {
	case docFail:
		d.fails++
	case docWarn:
		d.warns++
	}
	c := doctorCheck{Level: level, Check: check, Message: fmt.Sprintf(format, args...)}
	switch d.format {
	case formatJSON:
		_ = writeJSONLines(d.out, []doctorCheck{c})
	case formatCSV:
		_ = d.csv.Write([]string{string(c.Level), c.Check, c.Message})
		d.csv.Flush()
	default:
		prefix := fmt.Sprintf("%-4s  %-10s  ", c.Level, c.Check)
		lines := []string{oneLineCell(c.Message)}
		if d.width > 0 {
			lines = wrapWords(lines[0], max(d.width-len(prefix), 20))
		}
		for i, l := range lines {
			if i > 0 {
				prefix = strings.Repeat(" ", len(prefix))
			}
			line := prefix + l
			if d.width > 0 {
				line = cutCell(line, d.width)
			}
			fmt.Fprintln(d.out, line)
		}
	}
}

// summary says how many checks failed and warned: on stdout under the table,
// on stderr beside json and csv (whose stdout holds the checks only).
func (d *doctor) summary(stderr io.Writer) {
	w := d.out
	if d.format != formatTable {
		w = stderr
	}
	fmt.Fprintf(w, "%d check(s) failed, %d warning(s)\n", d.fails, d.warns)
}

func (a *App) newDoctorCommand() *cobra.Command {
	var storeURL, policyPath, settingsPath, subscription string
	var deployment bool
	var stale, timeout time.Duration
	var format outputFormat
	cmd := &cobra.Command{
		Use:   "doctor [--settings local.settings.json] [--deployment] [--subscription ID] [--format table|json|csv]",
		Short: "Check a deployment or a local set-up and say what is wrong, in plain words",
		Long: `doctor checks what exportguard needs and prints one line per check: OK, WARN
(works, but look), FAIL (broken) or SKIP (not checked, and why). It exits 1 when a check
fails.

  settings    FUNCTIONS_WORKER_RUNTIME=custom and AzureWebJobsStorage (under the Functions host),
              the Event Hubs settings functions/activitylog/function.json reads,
              EXPORTGUARD_STORE, EXPORTGUARD_LOG_LEVEL
  policy      EXPORTGUARD_POLICY (or --policy) loads and is valid; remediation can act
  store       the store opens, answers a read and takes a write, as the health function checks:
              a SQLite file passes PRAGMA quick_check and takes a write it rolls back, with room
              on its disk; Cosmos DB takes a small document and reads it back (a missing SQLite
              file is not created)
  identity    with --subscription ID: this machine's identity (DefaultAzureCredential: managed
              identity in Azure, az login locally) reads the subscription from ARM
  notify      each notification target of the policy has its URL (named, never shown)
  last event  the last change the pipeline processed, and when (from the audit trail)
  outbox      notifications and remediations pending or given up on; input kept as poison

Settings are read from the environment, as serve reads them. --settings FILE reads a
local.settings.json too (the environment wins, as with func start) and checks the app as the
Functions host will run it; so does --deployment, which is the default inside an App Service
(WEBSITE_SITE_NAME is set) and also requires settings a laptop can do without.`,
		Example: "  exportguard doctor --settings local.settings.json\n" +
			"  exportguard doctor --deployment --subscription 7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			d := &doctor{app: a, out: out, format: format, width: a.tableWidth(out), getenv: a.getenv, deployment: deployment, stale: stale, now: a.now()}
			if format == formatCSV {
				d.csv = csv.NewWriter(out)
				if err := d.csv.Write([]string{"level", "check", "message"}); err != nil {
					return err
				}
			}
			if a.getenv("WEBSITE_SITE_NAME") != "" {
				d.deployment = true
			}
			if settingsPath != "" {
				values, err := readLocalSettings(settingsPath)
				if err != nil {
					return err
				}
				d.getenv = func(name string) string {
					if v := a.getenv(name); v != "" {
						return v
					}
					return values[name]
				}
			}
			d.host = d.deployment || settingsPath != ""
			if storeURL == "" {
				storeURL = d.getenv(envStore)
			}
			if !cmd.Flags().Changed("policy") {
				policyPath = d.getenv(envPolicy)
			}
			ctx := cmd.Context()
			d.settings()
			pol := d.policy(policyPath)
			st := d.store(ctx, storeURL, timeout)
			d.identity(ctx, pol, subscription, timeout)
			d.notify(pol)
			if st != nil {
				rctx, cancel := context.WithTimeout(ctx, timeout)
				d.lastEvent(rctx, st)
				d.outbox(rctx, st)
				cancel()
				st.Close()
			} else {
				d.say(docSkip, "last event", "not checked: no store to read")
				d.say(docSkip, "outbox", "not checked: no store to read")
			}
			d.summary(cmd.ErrOrStderr())
			if d.fails > 0 {
				return fmt.Errorf("doctor: %d check(s) failed", d.fails)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&settingsPath, "settings", "", "a local.settings.json to read settings from (the environment wins)")
	cmd.Flags().BoolVar(&deployment, "deployment", false, "check as a deployment in Azure (default inside an App Service)")
	cmd.Flags().StringVar(&storeURL, "store", "", "store URL to check (default $EXPORTGUARD_STORE, else sqlite:exportguard.db)")
	cmd.Flags().StringVar(&policyPath, "policy", "", "policy file to check (default $EXPORTGUARD_POLICY, else the built-in policy)")
	cmd.Flags().StringVar(&subscription, "subscription", "", "a subscription ID to read from ARM, to check the identity (no ARM call without it)")
	cmd.Flags().DurationVar(&stale, "stale", 24*time.Hour, "warn when the last processed event is older than this")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "bound on each network check (store, ARM)")
	addFormatFlag(cmd, &format, "check")
	return cmd
}

// readLocalSettings reads the Values of a local.settings.json.
func readLocalSettings(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s struct {
		IsEncrypted bool              `json:"IsEncrypted"`
		Values      map[string]string `json:"Values"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%s: not a local.settings.json (%v)", path, err)
	}
	if s.IsEncrypted {
		return nil, fmt.Errorf("%s is encrypted (func settings decrypt first)", path)
	}
	return s.Values, nil
}

var settingRef = regexp.MustCompile(`%([^%]+)%`)

// settings checks what the Functions host and serve read from the settings.
func (d *doctor) settings() {
	const check = "settings"
	rt := strings.TrimSpace(d.getenv("FUNCTIONS_WORKER_RUNTIME"))
	switch {
	case strings.EqualFold(rt, "custom"):
		d.say(docOK, check, "FUNCTIONS_WORKER_RUNTIME is custom")
	case !d.host && rt == "":
		d.say(docSkip, check, "FUNCTIONS_WORKER_RUNTIME not checked: not run for the Functions host (give --settings FILE or --deployment)")
	case rt == "":
		d.say(docFail, check, "FUNCTIONS_WORKER_RUNTIME is not set: the Functions host will not start exportguard; set it to custom")
	default:
		d.say(docFail, check, "FUNCTIONS_WORKER_RUNTIME is %q: the Functions host will look for a %s app instead of starting exportguard; set it to custom", rt, rt)
	}

	if d.host {
		storage := d.getenv("AzureWebJobsStorage")
		identity := d.getenv("AzureWebJobsStorage__accountName") + d.getenv("AzureWebJobsStorage__blobServiceUri")
		switch {
		case storage == "" && identity == "":
			d.say(docFail, check, "AzureWebJobsStorage is not set: the host keeps Event Hubs checkpoints and timer state there (locally UseDevelopmentStorage=true with Azurite; in Azure AzureWebJobsStorage__accountName with the identity)")
		case d.deployment && strings.Contains(storage, "UseDevelopmentStorage"):
			d.say(docFail, check, "AzureWebJobsStorage is UseDevelopmentStorage=true, the local emulator, which does not exist in Azure")
		case storage != "":
			d.say(docOK, check, "AzureWebJobsStorage is set")
		default:
			d.say(docOK, check, "AzureWebJobsStorage uses the identity (AzureWebJobsStorage__accountName or __blobServiceUri)")
		}
	}

	// What functions/activitylog/function.json reads: %Setting% references,
	// and the connection (a connection string setting, or NAME__fullyQualifiedNamespace).
	var fj struct {
		Bindings []struct{ Type, EventHubName, ConsumerGroup, Connection string }
	}
	if _, raw, err := d.app.functionJSON("activitylog"); err == nil {
		_ = json.Unmarshal(raw, &fj)
	}
	for _, b := range fj.Bindings {
		if b.Type != "eventHubTrigger" {
			continue
		}
		for _, v := range []string{b.EventHubName, b.ConsumerGroup} {
			for _, m := range settingRef.FindAllStringSubmatch(v, -1) {
				name := m[1]
				switch val := strings.TrimSpace(d.getenv(name)); {
				case val != "":
					d.say(docOK, check, "%s is %s", name, val)
				case d.host:
					d.say(docFail, check, "%s is not set: the host cannot resolve %%%s%% in functions/activitylog/function.json, and the activitylog function will not start", name, name)
				default:
					d.say(docSkip, check, "%s not checked: it matters only under the Functions host", name)
				}
			}
		}
		d.eventHubConnection(b.Connection)
	}

	store := d.getenv(envStore)
	if store == "" {
		if d.deployment {
			d.say(docWarn, check, "%s is not set: serve uses sqlite:exportguard.db, a file on the app's own disk that each instance has a copy of; use Cosmos DB (cosmos:https://ACCOUNT.documents.azure.com:443/?database=NAME)", envStore)
		} else {
			d.say(docOK, check, "%s is not set: serve uses sqlite:exportguard.db", envStore)
		}
	}
	if lv := d.getenv(envLogLevel); lv != "" {
		var l slog.Level
		if l.UnmarshalText([]byte(lv)) != nil {
			d.say(docFail, check, "%s is %q: serve will not start; want debug, info, warn or error", envLogLevel, lv)
		}
	}
}

// eventHubConnection checks the activitylog function's connection: an
// identity-based one (PREFIX__fullyQualifiedNamespace) or a connection string
// (PREFIX), whose value is never shown.
func (d *doctor) eventHubConnection(prefix string) {
	const check = "settings"
	if prefix == "" {
		return
	}
	ns := strings.TrimSpace(d.getenv(prefix + "__fullyQualifiedNamespace"))
	cs := strings.TrimSpace(d.getenv(prefix))
	switch {
	case cs != "":
		d.say(docOK, check, "%s is set (a connection string; the activitylog function uses it rather than an identity)", prefix)
	case ns == "" && d.host:
		d.say(docFail, check, "%s__fullyQualifiedNamespace is not set: the activitylog function cannot connect to Event Hubs; set it to NAMESPACE.servicebus.windows.net (NAMESPACE.servicebus.usgovcloudapi.net in Azure Government)", prefix)
	case ns == "":
		d.say(docSkip, check, "%s__fullyQualifiedNamespace not checked: it matters only under the Functions host", prefix)
	case strings.ContainsAny(ns, "<>") || !strings.Contains(ns, "."):
		d.say(docFail, check, "%s__fullyQualifiedNamespace is %q: not a namespace host name (still the sample's placeholder?)", prefix, ns)
	default:
		d.say(docOK, check, "%s__fullyQualifiedNamespace is %s (the identity needs Azure Event Hubs Data Receiver there)", prefix, ns)
	}
}

// policy loads and judges the policy; nil when it does not load.
func (d *doctor) policy(path string) *guard.Policy {
	const check = "policy"
	name := path
	if path == "" {
		name = "the built-in policy"
	}
	p, err := loadPolicy(path)
	if err != nil {
		d.say(docFail, check, "%s does not load: %v", name, err)
		return nil
	}
	d.say(docOK, check, "%s is valid: cloud %s, allowed %s, remediation %s, %d exemption(s)",
		name, p.Cloud, p.AllowedSummary(), p.Remediation.Mode, len(p.Exemptions))
	remediating := 0
	for _, id := range guard.RuleIDs {
		if p.RuleMode(id) == guard.ModeRemediate {
			remediating++
		}
	}
	switch m := p.Remediation.Mode; {
	case (m == guard.RemediationAuto || m == guard.RemediationApprove) && remediating == 0:
		d.say(docWarn, check, "remediation is %s, but no rule's mode is remediate: nothing will be fixed", m)
	case (m == guard.RemediationAuto || m == guard.RemediationApprove) && len(p.Scope.Subscriptions) == 0:
		d.say(docWarn, check, "remediation is %s, but scope.subscriptions is empty: exportguard will write to no subscription", m)
	}
	expired := 0
	for _, e := range p.Exemptions {
		if !e.ExpiresOn.After(d.now) {
			expired++
		}
	}
	if expired > 0 {
		d.say(docWarn, check, "%d exemption(s) have expired: what they covered is judged again", expired)
	}
	return p
}

// describeStore names a store without anything secret: the kind, and the
// file or the account host and database.
func describeStore(raw string) string {
	scheme, rest, _ := strings.Cut(raw, ":")
	if scheme == "cosmos" {
		if u, err := url.Parse(rest); err == nil {
			return fmt.Sprintf("Cosmos DB at %s, database %s", u.Host, u.Query().Get("database"))
		}
		return "Cosmos DB"
	}
	return raw
}

// store opens the store, reads from it and runs the readiness check (a write
// rolled back). A SQLite file that does not exist is not created.
func (d *doctor) store(ctx context.Context, raw string, timeout time.Duration) guard.Store {
	const check = "store"
	if raw == "" {
		raw = "sqlite:exportguard.db"
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	scheme, rest, ok := strings.Cut(raw, ":")
	var st guard.Store
	var err error
	switch {
	case !ok:
		d.say(docFail, check, "the store URL names no kind of store: want sqlite:PATH, memory: or cosmos:https://HOST:PORT/?database=NAME")
		return nil
	case scheme == "memory" || (scheme == "sqlite" && rest == sqlite.Memory):
		d.say(docWarn, check, "%s keeps everything in memory: findings, the ledger and the audit trail go when the process stops", raw)
		return nil
	case scheme == "sqlite":
		if rest == "" {
			d.say(docFail, check, "%q: sqlite: needs a file path", raw)
			return nil
		}
		if _, serr := os.Stat(rest); errors.Is(serr, os.ErrNotExist) {
			d.say(docWarn, check, "%s does not exist yet: serve creates it at its first invocation (run where serve runs, or give --store)", rest)
			return nil
		}
		if d.deployment {
			d.say(docWarn, check, "%s is a file on the app's own disk: each instance has its own; use Cosmos DB in Azure", raw)
		}
		st, err = sqlite.Open(ctx, rest)
	case scheme == "cosmos":
		o, perr := cosmos.ParseURL(rest)
		if perr != nil {
			d.say(docFail, check, "%v", perr)
			return nil
		}
		o.EnsureContainers = false // a check creates nothing
		o.Key = cosmos.AccountKey(d.getenv(envCosmosKey))
		if d.getenv(envCosmosKey) == "" {
			d.say(docOK, check, "%s is not set: Cosmos DB is signed in to with the identity (it needs a Cosmos DB data role)", envCosmosKey)
		}
		st, err = cosmos.Open(ctx, o)
	default:
		// Only the kind: the rest of an unknown URL may hold a password.
		d.say(docFail, check, "unknown kind of store %q (want sqlite:PATH, memory: or cosmos:URL)", scheme)
		return nil
	}
	if err != nil {
		d.say(docFail, check, "%s cannot be opened: %v", describeStore(raw), err)
		return nil
	}
	if _, err := st.Processed(ctx, "~doctor", "doctor-probe"); err != nil {
		d.say(docFail, check, "%s opened, but a read failed: %v", describeStore(raw), err)
		st.Close()
		return nil
	}
	// The health function's readiness check. A store that reads but cannot
	// write is kept for the checks that only read it.
	if err := storeReady(st)(ctx); err != nil {
		d.say(docFail, check, "%s answered a read, but cannot take a write: %v", describeStore(raw), err)
		return st
	}
	d.say(docOK, check, "%s opened, answered a read and took a write", describeStore(raw))
	return st
}

// identity reads /subscriptions/{id} from ARM with the identity serve uses.
func (d *doctor) identity(ctx context.Context, pol *guard.Policy, subscription string, timeout time.Duration) {
	const check = "identity"
	if subscription == "" {
		d.say(docSkip, check, "not checked: give --subscription ID to read it from ARM with this machine's identity (managed identity in Azure, az login locally)")
		return
	}
	if pol == nil {
		d.say(docSkip, check, "not checked: the policy, which names the cloud, did not load")
		return
	}
	if !regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`).MatchString(subscription) {
		d.say(docFail, check, "--subscription %q is not a subscription ID", subscription)
		return
	}
	if len(pol.Scope.Subscriptions) > 0 && !pol.InScope(subscription) {
		d.say(docWarn, check, "subscription %s is not in the policy's scope.subscriptions", subscription)
	}
	conf, err := resourcemanager.Cloud(pol.Cloud)
	if err != nil {
		d.say(docFail, check, "%v", err)
		return
	}
	opts := policy.ClientOptions{Cloud: conf}
	opts.Retry.MaxRetries = 1
	client, err := d.app.newARM(pol.Cloud, resourcemanager.Options{ARM: &arm.ClientOptions{ClientOptions: opts}})
	if err != nil {
		d.say(docFail, check, "no ARM client: %s", oneLine(err.Error()))
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := client.GetSubscription(ctx, subscription)
	if err != nil {
		if _, ok := errors.AsType[*azidentity.AuthenticationFailedError](err); ok || strings.Contains(err.Error(), "credential") {
			d.say(docFail, check, "this machine's identity could not sign in to %s: %s", pol.Cloud, oneLine(err.Error()))
		} else {
			d.say(docFail, check, "ARM (%s) could not be reached: %s", client.Endpoint(), oneLine(err.Error()))
		}
		return
	}
	defer resp.Body.Close()
	var body struct {
		DisplayName string                `json:"displayName"`
		State       string                `json:"state"`
		Error       struct{ Code string } `json:"error"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body)
	switch resp.StatusCode {
	case http.StatusOK:
		state := ""
		if body.State != "" && body.State != "Enabled" {
			state = " (its state is " + body.State + ": it may not change)"
		}
		d.say(docOK, check, "the identity reads subscription %s (%s) in %s%s", subscription, body.DisplayName, pol.Cloud, state)
	case http.StatusUnauthorized, http.StatusForbidden:
		d.say(docFail, check, "the identity may not read subscription %s (HTTP %d %s): give it the Reader role there", subscription, resp.StatusCode, body.Error.Code)
	case http.StatusNotFound:
		d.say(docFail, check, "subscription %s was not found in %s (HTTP 404 %s): a wrong ID, the wrong cloud, or not visible to this identity", subscription, pol.Cloud, body.Error.Code)
	default:
		d.say(docFail, check, "ARM answered HTTP %d %s for subscription %s", resp.StatusCode, body.Error.Code, subscription)
	}
}

// oneLine is the first line of a message, clipped: credential errors list
// every credential they tried.
func oneLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// notify checks each notification target: its URL must resolve (env:NAME
// set) to https. Targets are named; URLs are never shown.
func (d *doctor) notify(pol *guard.Policy) {
	const check = "notify"
	if pol == nil {
		d.say(docSkip, check, "not checked: the policy did not load")
		return
	}
	targets := notifyTargets(pol)
	if len(targets) == 0 {
		d.say(docWarn, check, "no notification targets (notify.teams, notify.slack, notify.webhook in the policy): nobody is told of findings")
		return
	}
	for _, t := range targets {
		u, deprecated, err := resolveNotifyURL(t.spec, d.getenv)
		from := "written in the policy file"
		if name, ok := strings.CutPrefix(strings.TrimSpace(t.spec), "env:"); ok {
			from = "from " + name
		}
		switch {
		case err != nil:
			d.say(docFail, check, "%s: %v: nothing will reach it", t.name, err)
		case !strings.HasPrefix(u, "https://"):
			d.say(docFail, check, "%s: its URL (%s) is not https://: the sender refuses it", t.name, from)
		case deprecated != "":
			d.say(docWarn, check, "%s: configured, but %s", t.name, deprecated)
		case from == "written in the policy file":
			d.say(docWarn, check, "%s: configured, its URL written in the policy file; env:NAME keeps the secret out of the file", t.name)
		default:
			d.say(docOK, check, "%s: configured (URL %s)", t.name, from)
		}
	}
	if pol.Remediation.Mode == guard.RemediationApprove && d.getenv(envPublicURL) == "" {
		d.say(docWarn, check, "remediation waits for approval, but %s is not set: cards will carry no approve/deny links", envPublicURL)
	}
}

// humanDuration is a duration as a person says it: 3d4h, 1h28m, 5m, under a minute.
func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "in the future (" + humanDuration(-d) + ")"
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// lastEventHeads is how many partitions, the latest first, lastEvent looks at
// for a change.
const lastEventHeads = 50

// lastEvent finds the newest "change" record of the audit trail: the heads of
// the partitions' chains (AuditHeads) say which partition was written last,
// and the last record of each, the latest first, is read until one is a change.
func (d *doctor) lastEvent(ctx context.Context, st guard.Store) {
	const check = "last event"
	heads, err := st.AuditHeads(ctx, time.Time{})
	if err != nil {
		d.say(docFail, check, "the audit trail could not be read: %v", err)
		return
	}
	heads = slices.DeleteFunc(heads, func(h guard.AuditHead) bool { return h.Partition == guard.SealPartition })
	if len(heads) == 0 {
		d.say(docWarn, check, "no event processed yet: the audit trail is empty")
		return
	}
	slices.SortStableFunc(heads, func(a, b guard.AuditHead) int { return b.At.Compare(a.At) })
	for _, h := range heads[:min(len(heads), lastEventHeads)] {
		recs, err := st.ListAudit(ctx, h.Partition, h.Seq-1, 1)
		if err != nil {
			d.say(docFail, check, "the audit trail could not be read: %v", err)
			return
		}
		if len(recs) == 0 || recs[0].Kind != guard.AuditChange {
			continue
		}
		r := recs[0]
		var data struct{ Operation, Source string }
		_ = json.Unmarshal(r.Data, &data)
		age := d.now.Sub(r.At)
		what := fmt.Sprintf("%s (%s ago): %s on %s, from %s", r.At.UTC().Format(time.RFC3339), humanDuration(age), data.Operation, r.Subject, data.Source)
		if age > d.stale {
			d.say(docWarn, check, "nothing processed for %s; the last was %s. Check the Activity Log diagnostic setting, Event Hubs and the activitylog function (or the subscriptions are quiet)", humanDuration(age), what)
		} else {
			d.say(docOK, check, "%s", what)
		}
		return
	}
	d.say(docWarn, check, "no change as the last record of the %d partitions written last (%d in all)", min(len(heads), lastEventHeads), len(heads))
}

// outbox reports deliveries pending and given up on, and input kept as poison.
func (d *doctor) outbox(ctx context.Context, st guard.Store) {
	const check = "outbox"
	items, err := st.ListOutbox(ctx)
	if err != nil {
		d.say(docFail, check, "the outbox could not be read: %v", err)
	} else {
		var pending, failed []guard.OutboxItem
		for _, it := range items {
			if it.Failed {
				failed = append(failed, it)
			} else {
				pending = append(pending, it)
			}
		}
		switch {
		case len(pending) == 0:
			d.say(docOK, check, "nothing pending")
		default:
			oldest := pending[0].NextAttempt
			for _, it := range pending {
				if it.NextAttempt.Before(oldest) {
					oldest = it.NextAttempt
				}
			}
			if late := d.now.Sub(oldest); late > time.Hour {
				d.say(docWarn, check, "%d pending, the oldest due for %s: nothing is delivering them (deliveries run after each invocation, and the sweep runs every 5 minutes)", len(pending), humanDuration(late))
			} else {
				d.say(docOK, check, "%d pending (retried with backoff)", len(pending))
			}
		}
		if len(failed) > 0 {
			var reasons []string
			for i, it := range failed {
				if i == 3 {
					reasons = append(reasons, fmt.Sprintf("and %d more", len(failed)-3))
					break
				}
				reasons = append(reasons, fmt.Sprintf("%s after %d attempt(s): %s", it.Kind, it.Attempts, oneLine(it.LastError)))
			}
			d.say(docWarn, check, "%d given up on (kept with the reason): %s", len(failed), strings.Join(reasons, "; "))
		}
	}
	poison, err := st.ListPoison(ctx)
	switch {
	case err != nil:
		d.say(docFail, check, "the poison store could not be read: %v", err)
	case len(poison) > 0:
		last := poison[len(poison)-1]
		d.say(docWarn, check, "%d input(s) could not be read and were kept as poison; the newest, %s from %s: %s",
			len(poison), last.At.UTC().Format(time.RFC3339), last.Source, oneLine(last.Reason))
	}
}
