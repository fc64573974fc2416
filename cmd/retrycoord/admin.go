package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/proxywhirl/retrycoord/coord/api"
)

// Defaults and environment of the admin subcommands.
const (
	adminDefaultAddr = "http://127.0.0.1:7947"
	adminEnvAddr     = "RETRYCOORD_ADDR"
	adminEnvToken    = "RETRYCOORD_TOKEN"
	adminTimeout     = 10 * time.Second
)

// adminOptions are the flags every admin subcommand shares.
type adminOptions struct {
	addr    string
	token   string
	json    bool
	timeout time.Duration
	tls     tlsOptions // --ca-cert, --tls-insecure (tls.go)
	// getenv reads the environment (os.Getenv; tests replace it).
	getenv func(string) string
	// httpClient, when set, is used instead of a new one (tests).
	httpClient *http.Client
}

// register adds --addr, --token, --json and --timeout to cmd and its
// subcommands.
func (o *adminOptions) register(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	fs.StringVar(&o.addr, "addr", "", "the agent's API address (env "+adminEnvAddr+", default "+adminDefaultAddr+")")
	fs.StringVar(&o.token, "token", "", "the API token for writes (env "+adminEnvToken+")")
	fs.BoolVar(&o.json, "json", false, "print raw JSON for scripts")
	fs.DurationVar(&o.timeout, "timeout", adminTimeout, "how long a request may take (not the watch stream)")
	fs.StringVar(&o.tls.caCert, "ca-cert", "", "PEM CA certificate that signed the agent's --tls-cert (for an https --addr)")
	fs.BoolVar(&o.tls.insecure, "tls-insecure", false, "do not verify the agent's TLS certificate (development only)")
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error { return o.tls.load() }
}

// client returns an API client from the flags, then the environment, then
// the defaults.
func (o *adminOptions) client(stream bool) *api.Client {
	getenv := o.getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	addr := o.addr
	if addr == "" {
		addr = getenv(adminEnvAddr)
	}
	if addr == "" {
		addr = adminDefaultAddr
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	token := o.token
	if token == "" {
		token = getenv(adminEnvToken)
	}
	hc := o.httpClient
	if hc == nil {
		hc = &http.Client{Transport: o.tls.transport()}
		if !stream {
			hc.Timeout = o.timeout
		}
	}
	return api.NewClient(addr, token, hc)
}

// print writes v as indented JSON.
func (o *adminOptions) printJSON(w io.Writer, v any) error {
	if raw, ok := v.(json.RawMessage); ok {
		var x any
		if err := json.Unmarshal(raw, &x); err == nil {
			v = x
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// adminError makes an API error read as the API's message.
func adminError(err error) error {
	var ae *api.Error
	if errors.As(err, &ae) {
		return fmt.Errorf("%s (HTTP %d)", ae.Message, ae.Status)
	}
	return err
}

// newAdminCommands returns the admin subcommands: members, breakers, trip,
// reset, policy, pool, watch, health and keys. Each talks to an agent's API.
func newAdminCommands() []*cobra.Command {
	return newAdminCommandsWith(func(o *adminOptions) {})
}

// newAdminCommandsWith is newAdminCommands with a hook to adjust each
// command's options (tests set the environment and the HTTP client).
func newAdminCommandsWith(adjust func(*adminOptions)) []*cobra.Command {
	mk := func(build func(*adminOptions) *cobra.Command) *cobra.Command {
		o := &adminOptions{}
		adjust(o)
		cmd := build(o)
		o.register(cmd)
		return cmd
	}
	return []*cobra.Command{
		mk(newMembersCommand),
		mk(newBreakersCommand),
		mk(newTripCommand),
		mk(newResetCommand),
		mk(newPolicyCommand),
		mk(newPoolCommand),
		mk(newWatchCommand),
		mk(newHealthCommand),
		mk(newKeysCommand), // admin_keys.go
	}
}

func newMembersCommand(o *adminOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "members",
		Short: "List the fleet's members",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ms, err := o.client(false).Members(cmd.Context())
			if err != nil {
				return adminError(err)
			}
			if o.json {
				return o.printJSON(cmd.OutOrStdout(), ms)
			}
			return writeMembers(cmd.OutOrStdout(), ms)
		},
	}
}

func newBreakersCommand(o *adminOptions) *cobra.Command {
	var phase string
	cmd := &cobra.Command{
		Use:   "breakers",
		Short: "List the breakers (every pool upstream and any tripped one)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bs, err := o.client(false).Breakers(cmd.Context(), phase)
			if err != nil {
				return adminError(err)
			}
			if o.json {
				return o.printJSON(cmd.OutOrStdout(), bs)
			}
			return writeBreakers(cmd.OutOrStdout(), bs)
		},
	}
	cmd.Flags().StringVar(&phase, "state", "", "only breakers in this phase: open, half-open or closed")
	return cmd
}

func newTripCommand(o *adminOptions) *cobra.Command {
	var openFor time.Duration
	var reason string
	cmd := &cobra.Command{
		Use:   "trip UPSTREAM",
		Short: "Open an upstream's breaker on every node",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := o.client(false).Trip(cmd.Context(), args[0], openFor, reason)
			return o.breakerResult(cmd, b, err)
		},
	}
	cmd.Flags().DurationVar(&openFor, "for", 0, "how long it stays open, 1s–24h (0: the policy's open time)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, shown to other operators")
	return cmd
}

func newResetCommand(o *adminOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "reset UPSTREAM",
		Short: "Close an upstream's breaker on every node",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := o.client(false).Reset(cmd.Context(), args[0])
			return o.breakerResult(cmd, b, err)
		},
	}
}

func (o *adminOptions) breakerResult(cmd *cobra.Command, b api.Breaker, err error) error {
	if err != nil {
		return adminError(err)
	}
	if o.json {
		return o.printJSON(cmd.OutOrStdout(), b)
	}
	return writeBreakers(cmd.OutOrStdout(), []api.Breaker{b})
}

func newWatchCommand(o *adminOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "watch",
		Short: "Print breaker transitions and pool and policy changes as they happen",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			err := o.client(true).Watch(ctx, func(tr api.Transition) error {
				if o.json {
					b, err := json.Marshal(tr)
					if err != nil {
						return err
					}
					_, err = fmt.Fprintf(w, "%s\n", b)
					return err
				}
				_, err := fmt.Fprintln(w, transitionLine(tr))
				return err
			})
			return adminError(err)
		},
	}
}

func newHealthCommand(o *adminOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Exit 0 when the agent is ready (for container health checks)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := o.client(false).Ready(cmd.Context())
			if err != nil {
				return adminError(err)
			}
			if o.json {
				if err := o.printJSON(cmd.OutOrStdout(), r); err != nil {
					return err
				}
			} else if r.Ready {
				fmt.Fprintln(cmd.OutOrStdout(), "ready")
			}
			if !r.Ready {
				return errors.New(r.Reason)
			}
			return nil
		},
	}
}
