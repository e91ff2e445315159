// Command exportguard is the export-control compliance guard for Azure and Azure
// Government. It runs as an Azure Functions custom handler (exportguard serve)
// and replays recorded sessions locally (exportguard replay). The verbs are in
// internal/cli; main gives them the process: its arguments, standard streams,
// environment and signals, and the functions' function.json files, embedded
// here because go:embed cannot reach the repository root from internal/cli.
package main

import (
	"context"
	"embed"
	"os"
	"os/signal"
	"syscall"

	"github.com/exportguard/exportguard/internal/cli"
)

//go:embed functions/*/function.json
var functionsFS embed.FS

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	app := &cli.App{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Functions: functionsFS, DefaultLogger: true}
	status := cli.Main(ctx, app, os.Args[1:])
	stop()
	os.Exit(status)
}
