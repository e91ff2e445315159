package cli

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/exportguard/exportguard/pkg/functions"
	"github.com/exportguard/exportguard/pkg/guard"
)

// What serve may hold. The process stays under 512 MB whatever the host sends
// (TestFaultBodiesMemory measures it): the collector is held to serveMemoryLimit
// (unless GOMEMLIMIT says otherwise), and the invocations running at once to
// serveInFlightBytes of request bodies at functions.BodyCost each; the rest of
// the limit is the process's own (store cache, ARM bodies, the runtime).
const (
	serveMemoryLimit   = 384 << 20
	serveInFlightBytes = functions.DefaultInFlightBytes
	// deliveryEvery is how often the delivery worker looks for items that came
	// due (retries) when no invocation pokes it.
	deliveryEvery = 10 * time.Second
)

// hostJSONPath is where the Functions host keeps host.json: the script root,
// which is also the custom handler's working directory when host.json's
// workingDirectory is empty (ours).
func (a *App) hostJSONPath() string {
	if root := a.getenv("AzureWebJobsScriptRoot"); root != "" {
		return filepath.Join(root, "host.json")
	}
	return "host.json"
}

// serveBodyLimit is the largest invocation body serve reads: functions.BodyLimit
// of the Event Hubs batch size host.json sets (the extension's default of 100
// when it sets none, or when there is no host.json: serve run by hand), at most
// what the memory bound lets one invocation hold.
func serveBodyLimit(path string, log *slog.Logger) (int64, error) {
	batch, key := functions.DefaultEventBatchSize, ""
	text, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		log.Info("no host.json: sizing invocations for the Event Hubs extension's default batch", "path", path, "batch", batch)
	case err != nil:
		return 0, err
	default:
		if batch, key, err = functions.HostBatchSize(text); err != nil {
			return 0, err
		}
	}
	limit, most := functions.BodyLimit(batch), int64(serveInFlightBytes/functions.BodyCost)
	if limit > most {
		if key == "" {
			key = "extensions.eventHubs.maxEventBatchSize (not set)"
		}
		log.Warn("host.json's Event Hubs batch may be larger than the memory bound lets one invocation hold: bigger bodies are refused (413)",
			"setting", key, "batch", batch, "bodyLimit", limit, "heldAtMost", most)
		limit = most
	}
	return limit, nil
}

// holdMemory sets the collector's memory limit (serveMemoryLimit) unless
// GOMEMLIMIT names one.
func (a *App) holdMemory() {
	if a.getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(serveMemoryLimit)
	}
}

// backgroundDelivery takes the pipeline's dispatcher out of the invocations:
// the pipeline then only plans into the outbox, and the worker returned
// delivers (nil when there is nothing to deliver to). replay keeps its
// dispatcher inline, at the replay clock.
func (a *App) backgroundDelivery(p *guard.Pipeline, log *slog.Logger) *guard.DispatchWorker {
	d := p.Dispatcher
	if d == nil {
		return nil
	}
	p.Dispatcher = nil
	return guard.NewDispatchWorker(d, a.now, deliveryEvery, log)
}
