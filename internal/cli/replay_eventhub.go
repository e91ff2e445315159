package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/eventhubs"
	"github.com/exportguard/exportguard/pkg/session"
)

// publishPartitionKey is the partition key of every batch replay --to-eventhub
// sends: one key, one partition, so the hub keeps the sessions' order.
const publishPartitionKey = "exportguard-replay"

// toEventHubFlagHelp is the help of replay's --to-eventhub flag.
const toEventHubFlagHelp = "publish the sessions' eventhub messages to NAMESPACE/HUB (in order, in batches) instead of replaying them here; " +
	"a short NAMESPACE takes the --policy cloud's suffix; auth: DefaultAzureCredential or $" + envEventHubConnectionString

// replayToEventHub is replay --to-eventhub NAMESPACE/HUB SESSION...: it
// publishes every eventhub line's body, session after session, line after line,
// to the hub, so that a deployed guard (its activitylog function) receives them
// as it would the Activity Log's. Other lines (arm, eventgrid, clock) have no
// place on a hub and are counted, not sent: the deployed guard reads the
// resources from ARM itself. The policy names the cloud for a short NAMESPACE.
func (a *App) replayToEventHub(cmd *cobra.Command, hub, policyPath string, sessions []string) error {
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	pol, err := loadPolicy(policyPath)
	if err != nil {
		return err
	}
	target, err := resolveEventHub(hub, "", pol.Cloud)
	if err != nil {
		return err
	}
	for _, p := range sessions { // every session is there before anything is sent
		if _, err := os.Stat(p); err != nil {
			return err
		}
	}
	opts := eventhubs.ProducerOptions{PartitionKey: publishPartitionKey}
	if cs := a.getenv(envEventHubConnectionString); cs != "" {
		if target, err = target.WithConnectionString(cs); err != nil {
			return fmt.Errorf("%s: %w", envEventHubConnectionString, err)
		}
		opts.ConnectionString = cs
	} else if opts.Credential, err = eventhubs.NewCredential(target.Cloud); err != nil {
		return err
	}
	a.announce(stderr, "connecting to %s (%s)", target, eventHubAuth(opts.ConnectionString))
	sender, err := a.openSender(target, opts)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = sender.Close(cctx)
	}()
	pub := &eventhubs.Publisher{Sender: sender}
	prog := a.newProgress(stderr, sessionBytes(sessions), func() string {
		b, m := pub.Stats()
		return fmt.Sprintf("publishing to %s: %d message(s) in %d batch(es)", target, m, b)
	})
	defer prog.stop()
	stderr = prog.writer(stderr)
	st, err := publishSessions(ctx, pub, sessions, stderr, prog)
	prog.stop()
	batches, messages := pub.Stats()
	summary := fmt.Sprintf("%d message(s) in %d batch(es) to %s (partition key %s); %d arm, %d eventgrid, %d clock line(s) not sent; %d malformed",
		messages, batches, target, publishPartitionKey, st.skipped[session.SourceARM], st.skipped[session.SourceEventGrid], st.skipped[session.SourceClock], st.bad)
	if err != nil {
		fmt.Fprintf(stderr, "stopped after %s\n", summary)
		return err
	}
	fmt.Fprintf(stderr, "published %s\n", summary)
	return nil
}

// eventHubAuth says how a verb signs in to Event Hubs, without the secret.
func eventHubAuth(connectionString string) string {
	if connectionString != "" {
		return "the connection string in $" + envEventHubConnectionString
	}
	return "signing in with DefaultAzureCredential"
}

type publishStats struct {
	read     int64 // bytes of the sessions read
	messages int
	skipped  map[string]int
	bad      int
}

// publishSessions adds every eventhub line of the sessions to pub, in order,
// and flushes. A malformed line is reported on errs with its line number and
// skipped, as replay does. prog (nil for none) is told the bytes read.
func publishSessions(ctx context.Context, pub *eventhubs.Publisher, paths []string, errs io.Writer, prog *progress) (publishStats, error) {
	st := publishStats{skipped: map[string]int{}}
	for _, path := range paths {
		if err := publishSession(ctx, pub, path, errs, &st, prog); err != nil {
			return st, err
		}
	}
	return st, pub.Flush(ctx)
}

func publishSession(ctx context.Context, pub *eventhubs.Publisher, path string, errs io.Writer, st *publishStats, prog *progress) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rd := session.NewReader(counting{f, &st.read})
	for {
		l, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		prog.tick(st.read)
		if bad, ok := errors.AsType[*session.BadLineError](err); ok {
			st.bad++
			fmt.Fprintf(errs, "%s:%d: %v; line skipped\n", path, bad.Line, bad.Err)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s:%d: %w", path, rd.N(), err)
		}
		if l.Source != session.SourceEventHub {
			st.skipped[l.Source]++
			continue
		}
		if err := pub.Add(ctx, eventhubs.Event{Body: l.Message()}); err != nil {
			return fmt.Errorf("%s:%d: %w", path, rd.N(), err)
		}
		st.messages++
	}
}
