// Command retrycoord is retrycoord's one binary: the agent (a cluster node
// with its admin API, metrics and forward proxy), the admin subcommands that
// talk to an agent's API, and a simulation of one breaker's life.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// Set by the linker: -X main.version=… -X main.commit=… (see the Makefile).
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "retrycoord:", err)
		os.Exit(exitCode(err))
	}
}

// exitError is an error that ends the process with a code of its own.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode is the process's exit code for err: an exitError's, else 1.
func exitCode(err error) int {
	if ee, ok := errors.AsType[*exitError](err); ok {
		return ee.code
	}
	return 1
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "retrycoord",
		Short:         "A distributed retry coordinator for fleets of scrapers sharing proxies",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var logOpts logOptions
	logOpts.register(root)
	root.AddCommand(newAgentCommand(&logOpts), newSimulateCommand(&logOpts), newVersionCommand(), newCACommand())
	root.AddCommand(newAdminCommands()...)
	return root
}
