package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

// defaultHealthURL is the health function as the Functions host serves it in
// the container image (the Dockerfile's ASPNETCORE_URLS port).
const defaultHealthURL = "http://127.0.0.1:8080/api/health"

// newHealthCommand is the container's health probe: the Functions base image
// has no curl to rely on, so the binary already in the image asks the health
// function itself. It talks to loopback only, so it cannot be turned into a
// request to anywhere else.
func (a *App) newHealthCommand() *cobra.Command {
	var target string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Probe a running function app's health function (the container's HEALTHCHECK)",
		Long: `exportguard health asks the health function of a function app running on this
machine (GET --url, loopback only) and exits 0 when it answers 2xx, 1 otherwise.
The Dockerfile's HEALTHCHECK runs it; ` + "`exportguard serve --port N`" + ` answers it on
http://127.0.0.1:N/health.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := url.Parse(target)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !isLoopbackHost(u.Hostname()) {
				return fmt.Errorf("health: --url %q is not an http(s) URL on loopback", target)
			}
			ctx := cmd.Context()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
			if err != nil {
				return fmt.Errorf("health: building the request: %w", err)
			}
			client := &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("health: asking %s: %w", u.Redacted(), err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			if resp.StatusCode/100 != 2 {
				return fmt.Errorf("health: %s answered %s: %s", u.Redacted(), resp.Status, body)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", body)
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "url", defaultHealthURL, "the health endpoint to ask (loopback only)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	return cmd
}
