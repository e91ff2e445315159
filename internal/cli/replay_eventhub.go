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
	"github.com/exportguard/exportguard/pkg/policyfile"
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
	pol, err := policyfile.Load(policyPath)
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
	if isTerminal(stderr) {
		pub.Sent = func(int) {
			b, m := pub.Stats()
			fmt.Fprintf(stderr, "\r\033[Kpublishing to %s: %d message(s) in %d batch(es)", target, m, b)
		}
		defer fmt.Fprint(stderr, "\r\033[K")
	}
	st, err := publishSessions(ctx, pub, sessions, stderr)
	batches, messages := pub.Stats()
	summary := fmt.Sprintf("%d message(s) in %d batch(es) to %s (partition key %s); %d arm, %d eventgrid, %d clock line(s) not sent; %d malformed",
		messages, batches, target, publishPartitionKey, st.skipped[session.SourceARM], st.skipped[session.SourceEventGrid], st.skipped[session.SourceClock], st.bad)
	if err != nil {
		fmt.Fprintf(stderr, "\r\033[Kstopped after %s\n", summary)
		return err
	}
	fmt.Fprintf(stderr, "\r\033[Kpublished %s\n", summary)
	return nil
}

type publishStats struct {
	messages int
	skipped  map[string]int
	bad      int
}

// publishSessions adds every eventhub line of the sessions to pub, in order,
// and flushes. A malformed line is reported on errs with its line number and
// skipped, as replay does.
func publishSessions(ctx context.Context, pub *eventhubs.Publisher, paths []string, errs io.Writer) (publishStats, error) {
	st := publishStats{skipped: map[string]int{}}
	for _, path := range paths {
		if err := publishSession(ctx, pub, path, errs, &st); err != nil {
			return st, err
		}
	}
	if err := pub.Flush(ctx); err != nil {
		return st, err
	}
	return st, nil
}

func publishSession(ctx context.Context, pub *eventhubs.Publisher, path string, errs io.Writer, st *publishStats) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rd := session.NewReader(f)
	for {
		l, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
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
