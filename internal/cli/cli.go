// Package cli is exportguard's command line: one file per verb (serve, replay
// and its --compare, --via and --to-eventhub, policy, audit, remediate, notify,
// record, report, doctor, store, scan) and the wiring of the parts they share.
// It is the one place where the project's packages are put together. An App
// holds everything a run takes from outside (the environment, the clock,
// stdin/stdout/stderr, Azure), so that tests replace those in a value of their
// own, not in package variables, and can run side by side.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/eventhubs"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/notify"
	"github.com/exportguard/exportguard/pkg/resourcemanager"
)

// App is one run of the command line. Its zero value (with Functions set) is
// the real thing: the process's environment and wall clock, Azure signed in
// with DefaultAzureCredential.
type App struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Getenv reads a setting; os.Getenv when nil.
	Getenv func(string) string
	// Now is the wall clock; time.Now when nil. Progress lines are timed by it.
	Now func() time.Time
	// IsTerminal says whether a writer is a terminal, where progress is
	// shown; when nil, whether it is an *os.File on a terminal.
	IsTerminal func(io.Writer) bool
	// Functions holds functions/*/function.json: the timers' schedules and
	// the settings the activitylog function reads. main embeds them (go:embed
	// cannot reach a parent directory from here).
	Functions fs.FS

	// NewARM builds the ARM client of a cloud; resourcemanager.NewDefault
	// when nil. scan's Resource Graph client shares its credential and options.
	NewARM func(cloud string, o resourcemanager.Options) (*resourcemanager.Client, error)
	// ARMReader, when set, answers serve's and record's ARM reads in a cloud
	// in place of a client: no credential, no network, no Resource Graph.
	ARMReader func(cloud string) (guard.ResourceReader, error)
	// OpenReceiver and OpenSender reach Event Hubs (record, replay
	// --to-eventhub); eventhubs.NewConsumer and eventhubs.NewProducer when nil.
	OpenReceiver func(ctx context.Context, t eventhubs.Target, o eventhubs.ConsumerOptions) (eventhubs.Receiver, error)
	OpenSender   func(t eventhubs.Target, o eventhubs.ProducerOptions) (eventhubs.Sender, error)
	// Notify is the notification senders' transport and clock (notifytest).
	Notify notify.TestOptions
	// DefaultLogger makes each verb's logger slog's default (and so the log
	// package's output): main sets it; tests, which run side by side, do not.
	DefaultLogger bool
}

// Main runs the command line with args and returns the exit status (DESIGN
// 3.1): 0 done; 1 failed; 2 usage; 3 --fail-on. The error goes to stderr.
func Main(ctx context.Context, app *App, args []string) int {
	err := app.Run(ctx, args)
	if err != nil {
		fmt.Fprintln(app.stderr(), "exportguard:", err)
		if exitCode(err) == ExitUsage {
			fmt.Fprintln(app.stderr(), "Run 'exportguard --help' (or VERB --help) for usage.")
		}
	}
	return exitCode(err)
}

// Run runs the command line with args. An error cobra returns before a verb
// runs is an *ExitError with ExitUsage.
func (a *App) Run(ctx context.Context, args []string) error {
	root := a.newRootCommand()
	root.SetArgs(args)
	root.SetIn(a.Stdin)
	root.SetOut(a.stdout())
	root.SetErr(a.stderr())
	ran := false
	markRuns(root, &ran)
	err := root.ExecuteContext(ctx)
	if err != nil && !ran {
		if _, ok := errors.AsType[*ExitError](err); !ok {
			return &ExitError{Code: ExitUsage, Err: err}
		}
	}
	return err
}

func (a *App) newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "exportguard",
		Short:         "Export-control compliance guard for Azure and Azure Government",
		Long:          "exportguard watches Azure control-plane events (Activity Log via Event Hubs, Event Grid)\nfor export-control violations: data replicated out of the allowed geography, customer-managed\nkeys turned off, just-in-time access outliving its window.\n\nExit status: 0 done; 1 failed; 2 usage (unknown verb or flag, missing or extra argument);\n3 when --fail-on SEVERITY (replay, scan) is given and an open finding at or above it exists.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	root.SetVersionTemplate("exportguard {{.Version}}\n")
	root.Flags().BoolP("version", "v", false, "print the version and the commit it was built from")
	addLogFormatFlag(root) // logs.go
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		// A verb that builds no logger of its own still logs (through
		// slog.Default) in the one format.
		_, err := a.logger(cmd, "warn")
		return err
	}
	root.AddCommand(a.newVersionCommand())
	root.AddCommand(a.newServeCommand(), a.newReplayCommand(), a.newPolicyCommand(), a.newAuditCommand(), a.newRemediateCommand(),
		a.newNotifyCommand(), a.newRecordCommand(), a.newReportCommand(), a.newDoctorCommand(), a.newStoreCommand(), a.newScanCommand(), a.newHealthCommand(),
		a.newRulesCommand())
	return root
}

func (a *App) getenv(name string) string {
	if a.Getenv == nil {
		return os.Getenv(name)
	}
	return a.Getenv(name)
}

// envOr is the setting name, or def when it is empty.
func (a *App) envOr(name, def string) string {
	if v := a.getenv(name); v != "" {
		return v
	}
	return def
}

func (a *App) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}

func (a *App) newARM(cloud string, o resourcemanager.Options) (*resourcemanager.Client, error) {
	if a.NewARM == nil {
		return resourcemanager.NewDefault(cloud, o)
	}
	return a.NewARM(cloud, o)
}

// armReader is record's ARM reader in a cloud, signed in with cred.
func (a *App) armReader(cloud string, cred azcore.TokenCredential) (guard.ResourceReader, error) {
	if a.ARMReader != nil {
		return a.ARMReader(cloud)
	}
	return a.newARM(cloud, resourcemanager.Options{Credential: cred})
}

func (a *App) openReceiver(ctx context.Context, t eventhubs.Target, o eventhubs.ConsumerOptions) (eventhubs.Receiver, error) {
	if a.OpenReceiver != nil {
		return a.OpenReceiver(ctx, t, o)
	}
	return eventhubs.NewConsumer(ctx, t, o)
}

func (a *App) openSender(t eventhubs.Target, o eventhubs.ProducerOptions) (eventhubs.Sender, error) {
	if a.OpenSender != nil {
		return a.OpenSender(t, o)
	}
	return eventhubs.NewProducer(t, o)
}

func (a *App) stdout() io.Writer {
	if a.Stdout == nil {
		return os.Stdout
	}
	return a.Stdout
}

func (a *App) stderr() io.Writer {
	if a.Stderr == nil {
		return os.Stderr
	}
	return a.Stderr
}
