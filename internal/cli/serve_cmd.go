package cli

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/functions"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/resourcegraph"
	"github.com/exportguard/exportguard/pkg/resourcemanager"
	"github.com/exportguard/exportguard/pkg/scan"
)

func (a *App) newServeCommand() *cobra.Command {
	var port string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run as the Azure Functions custom handler",
		Long: `serve is the Azure Functions custom handler: host.json starts it, and it listens on
127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT for the host's invocations of these functions
(functions/*/function.json):

` + a.servedFunctions() + `
Settings (app settings in Azure, local.settings.json locally):
  EXPORTGUARD_STORE      store URL (default sqlite:exportguard.db)
  EXPORTGUARD_POLICY     policy file (default: the built-in policy)
  EXPORTGUARD_LOG_LEVEL  debug, info, warn or error (default info)
  AZURE_CLIENT_ID        client ID of a user-assigned managed identity, if used
  AZURE_TENANT_ID        the Entra tenant whose principals the api accepts (recommended)
  EXPORTGUARD_API_AUTH   local: believe X-MS-CLIENT-PRINCIPAL without App Service
                         authentication (a workstation only; refused in Azure)

The api and dashboard functions answer only when App Service sets WEBSITE_AUTH_ENABLED=True
(its authentication is on), to callers holding the app role ExportGuard.Reader or
ExportGuard.Approver.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if port == "" {
				port = a.envOr("FUNCTIONS_CUSTOMHANDLER_PORT", a.getenv("FUNCTIONS_HTTPWORKER_PORT"))
			}
			if port == "" {
				return fmt.Errorf("no port: FUNCTIONS_CUSTOMHANDLER_PORT is not set (the Functions host sets it; use --port to run by hand)")
			}
			log, err := a.logger(cmd, a.envOr(envLogLevel, "info"))
			if err != nil {
				return err
			}
			p, err := loadPolicy(a.getenv(envPolicy))
			if err != nil {
				return err
			}
			var reader guard.ResourceReader
			var graph scan.Graph // the reconcile's Resource Graph; none under test
			if a.ARMReader != nil {
				if reader, err = a.ARMReader(p.Cloud); err != nil {
					return err
				}
			} else {
				// Managed identity in Azure, the developer's sign-in locally.
				client, err := resourcemanager.NewDefault(p.Cloud, resourcemanager.Options{})
				if err != nil {
					return err
				}
				reader = client
				if graph, err = resourcegraph.New(client.Credential(), resourcegraph.Options{
					ARM: client.ClientOptions(), Logger: log}); err != nil {
					return err
				}
			}
			a.holdMemory()
			maxBody, err := serveBodyLimit(a.hostJSONPath(), log)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := a.openStore(ctx, a.envOr(envStore, "sqlite:exportguard.db"))
			if err != nil {
				return err
			}
			defer st.Close()
			pl, err := a.newPipeline(st, reader, p, log)
			if err != nil {
				return err
			}
			// Notifications and remediations are delivered beside the
			// invocations, never inside them: an invocation commits, answers
			// and pokes the worker.
			worker := a.backgroundDelivery(pl, log)
			var delivered func()
			if worker != nil {
				delivered = worker.Poke
			}
			// The reconcile timer scans the scope through Resource Graph.
			ing := withReconcile(a.servedIngester(pl, st), graph, log)
			h := functions.NewHandler(functions.Options{
				Ingester:         ing,            // with the api function's findings API
				Ready:            storeReady(st), // a write, rolled back: 503 when the store cannot take one
				APIAuth:          functions.APIAuthFromEnv(a.getenv),
				Logger:           log,
				MaxBodyBytes:     maxBody,
				MaxInFlightBytes: serveInFlightBytes,
				Delivered:        delivered,
			})
			log.Info("exportguard serving", "cloud", p.Cloud, "port", port, "maxBodyBytes", maxBody)
			// The worker outlives the server's graceful shutdown (what the last
			// invocations commit is delivered), then stops; a send it cuts off
			// stays in the outbox for the next start.
			wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
			var wg sync.WaitGroup
			if worker != nil {
				wg.Go(func() { worker.Run(wctx) })
			}
			err = functions.ListenAndServe(ctx, net.JoinHostPort("127.0.0.1", port), h, log)
			stop()
			wg.Wait()
			return err
		},
	}
	cmd.Flags().StringVar(&port, "port", "", "port to listen on (default $FUNCTIONS_CUSTOMHANDLER_PORT)")
	return cmd
}
