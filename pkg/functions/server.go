package functions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Server timeouts. The host sends whole requests at once over loopback, so reading
// is quick; the work happens while the answer is pending and is bounded by the
// host's functionTimeout (it cancels by closing the connection), so there is no
// write timeout. Idle connections are kept longer than the host's HTTP client keeps
// them (.NET pools them for a minute or two), so that the client, not the server,
// closes an idle connection and no request races a close.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 2 * time.Minute
	idleTimeout       = 10 * time.Minute
	maxHeaderBytes    = 1 << 20
	shutdownGrace     = 30 * time.Second
)

// ListenAndServe serves h on addr (the caller builds "127.0.0.1:" +
// $FUNCTIONS_CUSTOMHANDLER_PORT) until ctx is cancelled, then shuts down
// gracefully: it stops accepting, lets running invocations finish for up to 30
// seconds, and closes what is left. It returns nil after a clean shutdown, and an
// error when it cannot listen, when serving fails, or when invocations had to be
// cut off.
func ListenAndServe(ctx context.Context, addr string, h http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("functions: listen: %w", err)
	}
	return serve(ctx, ln, h, log)
}

// serve is ListenAndServe on a listener the caller opened; it closes ln.
func serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("custom handler listening", slog.String("addr", ln.Addr().String()))

	select {
	case err := <-served:
		return fmt.Errorf("functions: serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("custom handler shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		_ = srv.Close()
		err = fmt.Errorf("functions: shutdown: invocations still running after %s were cut off: %w", shutdownGrace, err)
	}
	if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("functions: serve: %w", serr)
	}
	return err
}
