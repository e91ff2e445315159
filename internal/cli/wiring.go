package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	neturl "net/url"
	"strings"

	"github.com/robfig/cron/v3"

	"github.com/exportguard/exportguard/pkg/activitylog"
	"github.com/exportguard/exportguard/pkg/cosmos"
	"github.com/exportguard/exportguard/pkg/eventgrid"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// Settings the app reads (local.settings.sample.json lists them all).
const (
	envStore    = "EXPORTGUARD_STORE"
	envPolicy   = "EXPORTGUARD_POLICY"
	envLogLevel = "EXPORTGUARD_LOG_LEVEL"
	// envCosmosKey is the Cosmos DB account key; without it the cosmos: store
	// signs in with Entra ID.
	envCosmosKey = "COSMOS_KEY"
)

// openStore opens the store a --store URL names. sqlite:PATH is the embedded
// store in a file; sqlite::memory: (or memory:) keeps it in memory for one run;
// cosmos:https://HOST:PORT/?database=NAME is Cosmos DB (plain http:// only to a
// loopback host, for the local server; &ensureContainers=true creates what is
// missing), signed with the account key in COSMOS_KEY when it is set and with
// Entra ID (DefaultAzureCredential) when not.
func (a *App) openStore(ctx context.Context, url string) (guard.Store, error) {
	scheme, rest, ok := strings.Cut(url, ":")
	if !ok {
		return nil, fmt.Errorf("store %q: want sqlite:PATH, memory: or cosmos:URL", url)
	}
	switch scheme {
	case "sqlite":
		if rest == "" {
			return nil, fmt.Errorf("store %q: sqlite: needs a file path (or :memory:)", url)
		}
		return sqlite.Open(ctx, rest)
	case "memory":
		return sqlite.Open(ctx, ":memory:")
	case "cosmos":
		// The errors name the host, never the URL's query or the key.
		o, err := cosmos.ParseURL(rest)
		if err != nil {
			return nil, err
		}
		o.Key = cosmos.AccountKey(a.getenv(envCosmosKey))
		if u, err := neturl.Parse(o.Endpoint); err == nil { // the host, never the key
			a.announce(a.stderr(), "connecting to Cosmos DB at %s", u.Host)
		}
		return cosmos.Open(ctx, o)
	}
	return nil, fmt.Errorf("store: unknown kind %q (want sqlite:PATH, memory: or cosmos:URL)", scheme)
}

// storeReady is the health function's readiness check: the store's Ready
// (sqlite and cosmos: a write tried and rolled back or read back, see
// there), or a read for a store without one.
func storeReady(st guard.Store) func(context.Context) error {
	if r, ok := st.(interface{ Ready(context.Context) error }); ok {
		return r.Ready
	}
	return func(ctx context.Context) error {
		_, err := st.Processed(ctx, "~readiness", "readiness-probe")
		return err
	}
}

// newPipeline wires the centre to the decoders and rules.
func (a *App) newPipeline(st guard.Store, reader guard.ResourceReader, pol *guard.Policy, log *slog.Logger) (*guard.Pipeline, error) {
	all, err := a.pipelineRules(pol, log) // built-in and custom (policy_load.go)
	if err != nil {
		return nil, err
	}
	p := &guard.Pipeline{
		Store:  st,
		Reader: reader,
		Policy: pol,
		Rules:  all,
		Decoders: map[guard.Source]guard.Decoder{
			guard.SourceEventHub:  activitylog.Decode,
			guard.SourceEventGrid: eventgrid.Decode,
		},
		Log: log,
		// The readers serve and replay give are safe for concurrent use
		// (pkg/resourcemanager's client, replay's ARM); record's is not and uses a pipeline
		// of its own.
		ReadConcurrency: 4,
	}
	senders := map[string]guard.Sender{}
	for _, parts := range []func(*guard.Policy, guard.Store, *slog.Logger) ([]guard.Planner, map[string]guard.Sender, error){
		a.notifyParts, a.remediateParts,
	} {
		planners, ss, err := parts(pol, st, log)
		if err != nil {
			return nil, err
		}
		p.Planners = append(p.Planners, planners...)
		for kind, s := range ss {
			senders[kind] = s
		}
	}
	if len(senders) > 0 {
		p.Dispatcher = &guard.Dispatcher{Outbox: st, Senders: senders, Log: log}
	}
	bindRemediation(p, reader)
	return p, nil
}

// sweepSchedule is the sweep timer's schedule, read from its function.json so
// that replay ticks exactly when the Functions host would.
func (a *App) sweepSchedule() (cron.Schedule, error) {
	return a.timerSchedule("sweep")
}

// reconcileSchedule is the reconcile timer's schedule (daily by default), read
// from its function.json as the sweep's is.
func (a *App) reconcileSchedule() (cron.Schedule, error) {
	return a.timerSchedule("reconcile")
}

// functionJSON reads the function.json of the function named.
func (a *App) functionJSON(function string) (name string, raw []byte, err error) {
	name = "functions/" + function + "/function.json"
	if a.Functions == nil {
		return name, nil, fmt.Errorf("%s: no functions folder given", name)
	}
	raw, err = fs.ReadFile(a.Functions, name)
	return name, raw, err
}

func (a *App) timerSchedule(function string) (cron.Schedule, error) {
	name, raw, err := a.functionJSON(function)
	if err != nil {
		return nil, err
	}
	var fj struct {
		Bindings []struct {
			Type     string `json:"type"`
			Schedule string `json:"schedule"`
		} `json:"bindings"`
	}
	if err := json.Unmarshal(raw, &fj); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for _, b := range fj.Bindings {
		if b.Type == "timerTrigger" {
			// NCRONTAB: {second} {minute} {hour} {day} {month} {day-of-week}.
			p := cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
			s, err := p.Parse(b.Schedule)
			if err != nil {
				return nil, fmt.Errorf("%s schedule %q: %w", name, b.Schedule, err)
			}
			return s, nil
		}
	}
	return nil, fmt.Errorf("%s: no timerTrigger binding", name)
}
