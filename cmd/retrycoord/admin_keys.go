package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/proxywhirl/retrycoord/cluster"
	"github.com/proxywhirl/retrycoord/coord/api"
)

// clusterKeyring shows a cluster node's gossip keyring to the admin API.
type clusterKeyring struct{ node *cluster.Node }

func (k clusterKeyring) Keys() ([]api.Key, error) {
	ks, err := k.node.Keys()
	if err != nil {
		return nil, err
	}
	out := make([]api.Key, len(ks))
	for i, x := range ks {
		out[i] = api.Key{Fingerprint: x.Fingerprint, Primary: x.Primary}
	}
	return out, nil
}

func (k clusterKeyring) InstallKey(key string) error { return k.node.InstallKey(key) }
func (k clusterKeyring) UseKey(key string) error     { return k.node.UseKey(key) }
func (k clusterKeyring) RemoveKey(key string) error  { return k.node.RemoveKey(key) }

const keysLong = `keys manages the gossip encryption keyring of one or more agents
(--addr takes a comma-separated list and applies the command to each in
turn, stopping at the first failure). Keys are base64 of 16, 24 or 32 bytes;
give KEY as "-" to read it from standard input, keeping it out of the shell
history. Only fingerprints (8 hex digits of SHA-256) are ever printed.

Rotate a fleet's key in three rounds, each on every agent before the next:

  retrycoord keys install - --addr a:7947,b:7947,c:7947 < new.key
  retrycoord keys use     - --addr a:7947,b:7947,c:7947 < new.key
  retrycoord keys remove  - --addr a:7947,b:7947,c:7947 < old.key

then replace the old key in every agent's --encrypt for the next restart.
The keyring lives in memory: a restarted agent starts from its --encrypt.`

// newKeysCommand returns `keys list|install|use|remove`.
func newKeysCommand(o *adminOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "List, install, use or remove gossip encryption keys",
		Long:  keysLong,
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the keys' fingerprints, primary first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.eachAgent(cmd, func(ctx context.Context, c *api.Client) ([]api.Key, error) { return c.Keys(ctx) })
		},
	})
	for _, sub := range []struct {
		use, short string
		fn         func(*api.Client, context.Context, string) ([]api.Key, error)
	}{
		{"install KEY", "Add a key: the agents decrypt with it from now on", (*api.Client).InstallKey},
		{"use KEY", "Encrypt with an installed key from now on", (*api.Client).UseKey},
		{"remove KEY", "Remove a key that is not the primary one", (*api.Client).RemoveKey},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:   sub.use,
			Short: sub.short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				key, err := readKeyArg(cmd.InOrStdin(), args[0])
				if err != nil {
					return err
				}
				return o.eachAgent(cmd, func(ctx context.Context, c *api.Client) ([]api.Key, error) {
					return sub.fn(c, ctx, key)
				})
			},
		})
	}
	return cmd
}

// readKeyArg returns arg, or for "-" the first line of stdin.
func readKeyArg(stdin io.Reader, arg string) (string, error) {
	if arg != "-" {
		return strings.TrimSpace(arg), nil
	}
	b, err := io.ReadAll(io.LimitReader(stdin, 4096))
	if err != nil {
		return "", fmt.Errorf("reading the key from stdin: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if line = strings.TrimSpace(line); line == "" {
		return "", errors.New("no key on stdin")
	}
	return line, nil
}

// agentAddrs resolves --addr (or RETRYCOORD_ADDR, or the default) into its
// comma-separated addresses.
func (o *adminOptions) agentAddrs() []string {
	getenv := o.getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	raw := o.addr
	if raw == "" {
		raw = getenv(adminEnvAddr)
	}
	var out []string
	for a := range strings.SplitSeq(raw, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		out = []string{adminDefaultAddr}
	}
	return out
}

// eachAgent calls fn on every agent of --addr in turn, printing each one's
// keyring, and stops at the first error, naming the agent.
func (o *adminOptions) eachAgent(cmd *cobra.Command, fn func(context.Context, *api.Client) ([]api.Key, error)) error {
	addrs := o.agentAddrs()
	w := cmd.OutOrStdout()
	type result struct {
		Addr string    `json:"addr"`
		Keys []api.Key `json:"keys"`
	}
	var results []result
	for _, addr := range addrs {
		one := *o
		one.addr = addr
		keys, err := fn(cmd.Context(), one.client(false))
		if err != nil {
			err = adminError(err)
			if len(addrs) > 1 {
				err = fmt.Errorf("%s: %w (the agents before it in --addr were changed)", addr, err)
			}
			return err
		}
		results = append(results, result{addr, keys})
	}
	if o.json {
		if len(results) == 1 {
			return o.printJSON(w, results[0].Keys)
		}
		return o.printJSON(w, results)
	}
	tw := newAdminTable(w)
	if len(results) == 1 {
		fmt.Fprintln(tw, "FINGERPRINT\tPRIMARY")
	} else {
		fmt.Fprintln(tw, "AGENT\tFINGERPRINT\tPRIMARY")
	}
	for _, r := range results {
		for _, k := range r.Keys {
			if len(results) > 1 {
				fmt.Fprintf(tw, "%s\t", r.Addr)
			}
			fmt.Fprintf(tw, "%s\t%s\n", k.Fingerprint, yesNo(k.Primary))
		}
	}
	return tw.Flush()
}
