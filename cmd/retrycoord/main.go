// Command retrycoord is retrycoord's one binary: the agent (a cluster node
// with its admin API, metrics and forward proxy), the admin subcommands that
// talk to an agent's API, and a simulation of one breaker's life.
package main

import (
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
		os.Exit(1)
	}
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
	root.AddCommand(newAgentCommand(&logOpts), newSimulateCommand(&logOpts), newVersionCommand())
	root.AddCommand(newAdminCommands()...)
	return root
}
