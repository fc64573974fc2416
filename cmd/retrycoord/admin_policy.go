package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/coord/api"
)

// maxPolicyFile bounds a policy patch read by "policy set".
const maxPolicyFile = 1 << 20

func newPolicyCommand(o *adminOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Show or change the fleet's policy document",
	}
	var effective bool
	get := &cobra.Command{
		Use:   "get",
		Short: "Print the policy document in force (JSON); --effective fills in every default",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := o.client(false)
			get := c.PolicyJSON
			if effective {
				get = c.EffectivePolicyJSON
			}
			raw, err := get(cmd.Context())
			if err != nil {
				return adminError(err)
			}
			return o.printJSON(cmd.OutOrStdout(), raw)
		},
	}
	get.Flags().BoolVar(&effective, "effective", false, "show every field, the defaults filled in, not only what was set")
	cmd.AddCommand(get, &cobra.Command{
		Use:   "set FILE|-",
		Short: "Apply a partial policy document (JSON or YAML merge patch) to the whole fleet",
		Long: "Reads a partial policy document from FILE (or standard input for -) in JSON or\n" +
			"YAML and applies it as a JSON merge patch: only the keys given change, null resets\n" +
			"a key to its default. The result is validated as a whole before it is put in force.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			patch, err := readPolicyPatch(cmd.InOrStdin(), args[0])
			if err != nil {
				return err
			}
			raw, err := o.client(false).PatchPolicy(cmd.Context(), patch)
			if err != nil {
				return adminError(err)
			}
			return o.printJSON(cmd.OutOrStdout(), raw)
		},
	})
	return cmd
}

// readPolicyPatch reads a patch from a file or stdin ("-") and returns it
// as JSON; YAML is converted.
func readPolicyPatch(stdin io.Reader, name string) (json.RawMessage, error) {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxPolicyFile+1))
	if err != nil {
		return nil, fmt.Errorf("policy set: %w", err)
	}
	if len(data) > maxPolicyFile {
		return nil, fmt.Errorf("policy set: %s is larger than %d bytes", name, maxPolicyFile)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fmt.Errorf("policy set: %s is empty", name)
	}
	if json.Valid(data) {
		return data, nil
	}
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("policy set: %s is neither JSON nor YAML: %w", name, err)
	}
	v, err = yamlToJSON(v)
	if err != nil {
		return nil, fmt.Errorf("policy set: %s: %w", name, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("policy set: %s is not a mapping", name)
	}
	return json.Marshal(v)
}

// yamlToJSON makes a decoded YAML value encodable as JSON: mappings must
// have string keys.
func yamlToJSON(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			c, err := yamlToJSON(x[k])
			if err != nil {
				return nil, err
			}
			x[k] = c
		}
		return x, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("key %v is not a string", k)
			}
			c, err := yamlToJSON(val)
			if err != nil {
				return nil, err
			}
			out[ks] = c
		}
		return out, nil
	case []any:
		for i := range x {
			c, err := yamlToJSON(x[i])
			if err != nil {
				return nil, err
			}
			x[i] = c
		}
		return x, nil
	}
	return v, nil
}

func newPoolCommand(o *adminOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pool",
		Short: "List or change the fleet's pool of upstream proxies",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List this node's pool (passwords redacted)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			us, err := o.client(false).Pool(cmd.Context())
			if err != nil {
				return adminError(err)
			}
			if o.json {
				return o.printJSON(cmd.OutOrStdout(), us)
			}
			return writePool(cmd.OutOrStdout(), us)
		},
	}, &cobra.Command{
		Use:   "add URL [key=value...]",
		Short: "Add an upstream proxy to every node's pool",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("usage: retrycoord pool add URL [key=value...]   (e.g. http://user:pass@10.0.0.1:3128 region=eu)")
			}
			return checkScheme(args[0])
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var meta map[string]string
			for _, kv := range args[1:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("pool add: %q: want key=value", kv)
				}
				if meta == nil {
					meta = map[string]string{}
				}
				meta[k] = v
			}
			u, err := o.client(false).AddUpstream(cmd.Context(), args[0], meta)
			if err != nil {
				return adminError(err)
			}
			if o.json {
				return o.printJSON(cmd.OutOrStdout(), u)
			}
			return writePool(cmd.OutOrStdout(), []api.Upstream{u})
		},
	}, newPoolLoadCommand(o), &cobra.Command{
		Use:   "rm UPSTREAM",
		Short: "Remove an upstream from every node's pool",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.client(false).RemoveUpstream(cmd.Context(), args[0]); err != nil {
				return adminError(err)
			}
			if !o.json {
				fmt.Fprintln(cmd.OutOrStdout(), "removed", args[0])
			}
			return nil
		},
	})
	return cmd
}

func newPoolLoadCommand(o *adminOptions) *cobra.Command {
	var replace bool
	cmd := &cobra.Command{
		Use:   "load FILE|- [--replace]",
		Short: "Add every upstream of a pool file to every node's pool, as one change",
		Long: "Reads a pool file (the format of agent --pool-file: one proxy URL a line, then\n" +
			"key=value metadata; # starts a comment) from FILE, or standard input for -, and\n" +
			"sends it as one change: each upstream is added, or replaces the one with its key,\n" +
			"and the fleet takes them all at once. With --replace, the upstreams of this\n" +
			"node's pool that the file does not hold are removed in the same change. A bad\n" +
			"line fails the whole load, naming the line, and nothing changes; so does a file\n" +
			"with no upstream in it.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r := cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			lines, err := parsePoolFile(r)
			if err != nil {
				return fmt.Errorf("pool load %s: %w", args[0], err)
			}
			if len(lines) == 0 {
				// With --replace it would empty the fleet's pool: a wrong
				// file, most likely.
				return fmt.Errorf("pool load %s: the file holds no upstream; nothing sent", args[0])
			}
			cl := o.client(false)
			req := api.PoolUpdateRequest{Add: make([]api.AddRequest, len(lines))}
			inFile := make(map[string]bool, len(lines))
			for i, l := range lines {
				req.Add[i] = api.AddRequest{URL: l.URL, Meta: l.Meta}
				u, err := coord.ParseUpstream(coord.PoolEntry{URL: l.URL})
				if err != nil { // parsePoolFile parsed it already
					return err
				}
				inFile[u.Key()] = true
			}
			if replace {
				pool, err := cl.Pool(cmd.Context())
				if err != nil {
					return adminError(err)
				}
				for _, u := range pool {
					if !inFile[u.Upstream] {
						req.Remove = append(req.Remove, u.Upstream)
					}
				}
			}
			done, err := cl.UpdatePool(cmd.Context(), req)
			if err != nil {
				return adminError(err)
			}
			if o.json {
				return o.printJSON(cmd.OutOrStdout(), done)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "added %d, replaced %d, unchanged %d, removed %d\n",
				done.Added, done.Replaced, done.Unchanged, done.Removed)
			return err
		},
	}
	cmd.Flags().BoolVar(&replace, "replace", false, "also remove the upstreams of this node's pool that the file does not hold")
	return cmd
}
