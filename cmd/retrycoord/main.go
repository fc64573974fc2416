// Command retrycoord is retrycoord's one binary. Today it has the demo and
// version subcommands; the agent and the admin subcommands follow.
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
	root.AddCommand(newDemoCommand(&logOpts), newVersionCommand())
	return root
}
