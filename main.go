// Command exportguard is the export-control compliance guard for Azure and Azure
// Government. It runs as an Azure Functions custom handler (exportguard serve)
// and replays recorded sessions locally (exportguard replay). This package is the
// one place where the parts are wired together.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "exportguard:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "exportguard",
		Short:         "Export-control compliance guard for Azure and Azure Government",
		Long:          "exportguard watches Azure control-plane events (Activity Log via Event Hubs, Event Grid)\nfor export-control violations: data replicated out of the allowed geography, customer-managed\nkeys turned off, just-in-time access outliving its window.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCommand(), newReplayCommand(), newPolicyCommand(), newAuditCommand(), newRemediateCommand(), newNotifyCommand(), newRecordCommand(), newReportCommand(), newDoctorCommand(), newStoreCommand(), newScanCommand(scanEnv{}))
	return root
}
