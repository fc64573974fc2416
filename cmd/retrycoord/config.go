package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// envPrefix starts the environment variable of every setting:
// --api-token is RETRYCOORD_API_TOKEN.
const envPrefix = "RETRYCOORD_"

// envName returns the environment variable of a flag.
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// secretSettings are never printed: not in logs, not in errors.
var secretSettings = map[string]bool{
	"api-token":  true,
	"encrypt":    true,
	"redis-url":  true,
	"proxy-auth": true,
}

// applyConfig fills every flag that was not given on the command line from
// its environment variable, then from the YAML config file, in that order:
// flags beat the environment, which beats the file. The file's keys are the
// flag names; unknown keys are errors. configFlag names the flag holding the
// file's path (it may itself come from the environment).
func applyConfig(fs *pflag.FlagSet, configFlag string, lookupEnv func(string) (string, bool)) error {
	setFrom := func(f *pflag.Flag, value, source string) error {
		if err := f.Value.Set(value); err != nil {
			shown := strconv.Quote(value)
			if secretSettings[f.Name] {
				shown = "(redacted)"
			}
			return fmt.Errorf("%s: %s: invalid value %s: %v", source, f.Name, shown, cleanFlagError(err))
		}
		f.Changed = true
		return nil
	}

	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		if v, ok := lookupEnv(envName(f.Name)); ok {
			if err := setFrom(f, v, "environment "+envName(f.Name)); err != nil {
				errs = append(errs, err)
			}
		}
	})
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	path := fs.Lookup(configFlag).Value.String()
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	values, err := parseConfigFile(data)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		f := fs.Lookup(key)
		if f == nil || key == configFlag {
			msg := fmt.Sprintf("config file %s: unknown setting %q", path, key)
			if near := nearestFlag(fs, key, configFlag); near != "" {
				msg += fmt.Sprintf("; did you mean %q?", near)
			}
			errs = append(errs, errors.New(msg))
			continue
		}
		if f.Changed {
			continue
		}
		if err := setFrom(f, values[key], "config file "+path); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// parseConfigFile reads a flat YAML mapping of setting names to scalars or
// lists of scalars; lists become comma-separated values.
func parseConfigFile(data []byte) (map[string]string, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]string{}, nil
		}
		return nil, err
	}
	if len(root.Content) == 0 {
		return map[string]string{}, nil
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping of setting: value", doc.Line)
	}
	out := make(map[string]string, len(doc.Content)/2)
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := doc.Content[i], doc.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: a setting name must be a plain word", k.Line)
		}
		if _, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("line %d: %s is set twice", k.Line, k.Value)
		}
		switch v.Kind {
		case yaml.ScalarNode:
			out[k.Value] = v.Value
		case yaml.SequenceNode:
			items := make([]string, 0, len(v.Content))
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("line %d: %s: list items must be plain values", item.Line, k.Value)
				}
				items = append(items, item.Value)
			}
			out[k.Value] = strings.Join(items, ",")
		default:
			return nil, fmt.Errorf("line %d: %s: want a value or a list of values", v.Line, k.Value)
		}
	}
	return out, nil
}

// cleanFlagError drops pflag's and strconv's repetition of the value, so a
// secret given with a bad form is not echoed back.
func cleanFlagError(err error) string {
	var numErr *strconv.NumError
	if errors.As(err, &numErr) {
		return numErr.Err.Error()
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

// nearestFlag returns the flag name closest to name by edit distance, when
// it is close enough to be a likely typo (at most a third of its length,
// and at least 2), skipping the flag named skip; "" otherwise.
func nearestFlag(fs *pflag.FlagSet, name, skip string) string {
	best, bestD := "", max(2, len(name)/3)+1
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name == skip {
			return
		}
		if d := editDistance(strings.ReplaceAll(name, "_", "-"), f.Name); d < bestD {
			best, bestD = f.Name, d
		}
	})
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// unknownField matches the policy package's error for an unknown key, which
// lists the valid ones: unknown field "max_attemps" in retry (valid: a, b).
var unknownField = regexp.MustCompile(`unknown field "([^"]+)" in [^(]*\(valid: ([^)]*)\)`)

// suggestField appends the nearest valid key to a message naming an
// unknown policy field, when one is close enough to be a likely typo.
func suggestField(msg string) string {
	m := unknownField.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	best, bestD := "", max(2, len(m[1])/3)+1
	for _, valid := range strings.Split(m[2], ", ") {
		if d := editDistance(m[1], valid); d < bestD {
			best, bestD = valid, d
		}
	}
	if best == "" {
		return msg
	}
	return msg + fmt.Sprintf("; did you mean %q?", best)
}
