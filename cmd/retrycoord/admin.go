package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/proxywhirl/retrycoord/coord/api"
)

// Defaults and environment of the admin subcommands.
const (
	adminDefaultAddr = "http://127.0.0.1:7947"
	adminEnvAddr     = "RETRYCOORD_ADDR"
	adminEnvToken    = "RETRYCOORD_API_TOKEN" // the agent's --api-token reads the same variable
	adminEnvTokenOld = "RETRYCOORD_TOKEN"     // read too, for scripts written before
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

// env reads the environment (os.Getenv unless a test replaced it).
func (o *adminOptions) env(key string) string {
	if o.getenv == nil {
		return os.Getenv(key)
	}
	return o.getenv(key)
}

// address is the agent's API address from --addr, then the environment,
// then the default, with http:// when no scheme is given.
func (o *adminOptions) address() string {
	addr := cmp.Or(o.addr, o.env(adminEnvAddr), adminDefaultAddr)
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return addr
}

// client returns an API client from the flags, then the environment, then
// the defaults.
func (o *adminOptions) client(stream bool) *api.Client {
	getenv := o.env
	addr := o.address()
	token := cmp.Or(o.token, getenv(adminEnvToken), getenv(adminEnvTokenOld))
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

// adminError makes an API error read as the API's message, tells a user
// refused for want of a token how to give one, and says so plainly when no
// agent answers at the address.
func adminError(err error) error {
	if ae, ok := errors.AsType[*api.Error](err); ok {
		if ae.Status == http.StatusUnauthorized {
			return fmt.Errorf("%s (HTTP %d): pass --token or set %s", ae.Message, ae.Status, adminEnvToken)
		}
		return fmt.Errorf("%s (HTTP %d)", suggestField(ae.Message), ae.Status)
	}
	if ue, ok := errors.AsType[*url.Error](err); ok && isNoListener(ue.Err) {
		addr := ue.URL
		if u, perr := url.Parse(ue.URL); perr == nil {
			addr = u.Scheme + "://" + u.Host
		}
		return fmt.Errorf("no agent at %s (start one with `make run` or pass --addr)", addr)
	}
	return err
}

// isNoListener reports whether a dial failed because nothing listens there
// (refused, or no such host), as opposed to a slow or broken agent.
func isNoListener(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && dnsErr.IsNotFound
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
	var phase, level, site string
	cmd := &cobra.Command{
		Use:   "breakers",
		Short: "List the breakers (every pool upstream and any tripped one, pairs and sites included)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bs, err := o.client(false).BreakersWhere(cmd.Context(), api.BreakerQuery{State: phase, Level: level, Site: site})
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
	cmd.Flags().StringVar(&level, "level", "", "only breakers of this level: proxy, pair (a proxy for one site) or site")
	cmd.Flags().StringVar(&site, "site", "", "only this site's breaker and its pairs, e.g. example.com")
	return cmd
}

func newTripCommand(o *adminOptions) *cobra.Command {
	var openFor time.Duration
	var reason, site string
	cmd := &cobra.Command{
		Use:   "trip [UPSTREAM] [--site SITE]",
		Short: "Open a breaker on every node: an upstream's, an upstream's for one site, or a site's",
		Args: siteArgs(&site, "usage: retrycoord trip UPSTREAM [--site SITE] [--for 5m] [--reason TEXT], or retrycoord trip --site SITE ..."+
			"   (UPSTREAM as in `retrycoord breakers`, e.g. http://10.0.0.1:3128)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := o.client(false).TripAt(cmd.Context(), firstArg(args), site, openFor, reason)
			return o.breakerResult(cmd, b, err)
		},
	}
	cmd.Flags().DurationVar(&openFor, "for", 0, "how long it stays open, 1s–24h (0: the policy's open time)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, shown to other operators")
	cmd.Flags().StringVar(&site, "site", "", "the site: with UPSTREAM, that upstream for this site only (a pair); alone, the whole site")
	return cmd
}

func newResetCommand(o *adminOptions) *cobra.Command {
	var site string
	cmd := &cobra.Command{
		Use:   "reset [UPSTREAM] [--site SITE]",
		Short: "Close a breaker on every node: an upstream's, an upstream's for one site, or a site's",
		Args: siteArgs(&site, "usage: retrycoord reset UPSTREAM [--site SITE], or retrycoord reset --site SITE"+
			"   (UPSTREAM as in `retrycoord breakers`, e.g. http://10.0.0.1:3128)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := o.client(false).ResetAt(cmd.Context(), firstArg(args), site)
			return o.breakerResult(cmd, b, err)
		},
	}
	cmd.Flags().StringVar(&site, "site", "", "the site: with UPSTREAM, that upstream for this site only (a pair); alone, the whole site")
	return cmd
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// siteArgs accepts one upstream, or none when --site names a site; anything
// else is an error that is the command's usage line.
func siteArgs(site *string, usage string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) == 0 && *site != "" {
			return nil
		}
		return usageArgs(usage)(nil, args)
	}
}

// usageArgs accepts exactly one argument, an upstream; anything else is an
// error that is the command's usage line.
func usageArgs(usage string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 1 {
			return errors.New(usage)
		}
		return checkScheme(args[0])
	}
}

// checkScheme refuses an upstream written without a scheme, suggesting
// http:// (the key of 10.0.0.1:3128 is http://10.0.0.1:3128).
func checkScheme(upstream string) error {
	if upstream != "" && !strings.Contains(upstream, "://") {
		return fmt.Errorf("%s has no scheme: did you mean http://%s?", redactUserinfo(upstream), redactUserinfo(upstream))
	}
	return nil
}

// redactUserinfo hides the password of "user:pass@host:port" written
// without a scheme (url.Parse cannot, without one).
func redactUserinfo(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return s
	}
	if user, _, ok := strings.Cut(s[:at], ":"); ok {
		return user + ":xxxxx" + s[at:]
	}
	return s
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
	var budgets time.Duration
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Print breaker transitions and pool and policy changes as they happen",
		Long: "Print breaker transitions and pool and policy changes as they happen. With --budgets,\n" +
			"also print every site's retry budget and the hedging counters at that interval.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := &lockedWriter{w: cmd.OutOrStdout()}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if !o.json {
				fmt.Fprintf(cmd.ErrOrStderr(), "watching %s: breaker transitions, pool and policy changes as they happen (Ctrl-C stops)\n", o.address())
			}
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			var polls sync.WaitGroup
			defer polls.Wait()
			defer cancel()
			if budgets > 0 {
				polls.Go(func() { o.watchBudgets(ctx, w, budgets) })
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
	cmd.Flags().DurationVar(&budgets, "budgets", 0, "also print the retry budget of every site and the hedging counters this often (e.g. 5s; 0: never)")
	return cmd
}

// exitNotReady is health's exit code for an agent that answers but is not
// ready (1 is any other failure, such as no agent at all).
const exitNotReady = 2

func newHealthCommand(o *adminOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Exit 0 when the agent is ready, 2 when it answers but is not (for container health checks)",
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
				return &exitError{code: exitNotReady, err: errors.New(oneLine(r.Reason))}
			}
			return nil
		},
	}
}
