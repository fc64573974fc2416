package policy_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/proxywhirl/retrycoord/policy"
)

// zeroCase is an explicit zero in one field: want is the error it gets
// (the field and its bound), "" when zero is a value of the field's own.
type zeroCase struct {
	section, key string
	json, yaml   string // the zero as written
	want         string
}

// zeroCases covers every number and duration field of the wire form
// (TestExplicitZeroCoversEveryField checks that none is missing).
var zeroCases = []zeroCase{
	{"retry", "max_attempts", `0`, `0`, "retry.max_attempts 0 out of range 1–10"},
	{"retry", "base_delay", `"0s"`, `0s`, "retry.base_delay 0s out of range 0.1s–60s"},
	{"retry", "multiplier", `0`, `0`, "retry.multiplier 0 out of range 1.1–10"},
	{"retry", "max_delay", `"0"`, `"0"`, "retry.max_delay 0s out of range 1s–300s"},
	{"retry", "timeout", `"0s"`, `0s`, ""},         // 0: no timeout
	{"retry", "attempt_timeout", `"0s"`, `0s`, ""}, // 0: none
	{"breaker", "failure_threshold", `0`, `0`, "breaker.failure_threshold 0 out of range 1–10,000"},
	{"breaker", "window", `"0ms"`, `0ms`, "breaker.window 0s out of range 1s–1h"},
	{"breaker", "failure_rate", `0`, `0`, ""}, // 0: off
	{"breaker", "min_calls", `0`, `0`, "breaker.min_calls 0 out of range 1–1,000,000"},
	{"breaker", "slow_call", `"0s"`, `0s`, ""},  // 0: off
	{"breaker", "slow_call_rate", `0`, `0`, ""}, // 0: off
	{"breaker", "open_timeout", `"0s"`, `0s`, "breaker.open_timeout 0s out of range 1s–1h"},
	{"breaker", "open_backoff", `-0`, `-0.0`, "breaker.open_backoff 0 out of range 1–10"},
	{"breaker", "max_open_timeout", `"0s"`, `0s`, "breaker.max_open_timeout 0s below breaker.open_timeout 30s"},
	{"breaker", "half_open_probes", `0`, `0`, "breaker.half_open_probes 0 out of range 1–100"},
	{"breaker", "probe_lease", `"0s"`, `0s`, "breaker.probe_lease 0s out of range 1s–10m"},
	{"breaker", "probe_grace", `"0s"`, `0s`, "breaker.probe_grace 0s out of range (0, 10m]"},
	{"breaker", "fleet_threshold", `0`, `0`, "breaker.fleet_threshold 0 out of range 1–1,000,000"},
	{"breaker", "min_reporters", `0`, `0`, "breaker.min_reporters 0 out of range 1–1,000"},
	// A zero weight is in range, but alone it would be replaced by the
	// default pair (0.7, 0.3): the pair no longer sums to 1.
	{"select", "success_weight", `0.0`, `0.0`, "select.success_weight + select.latency_weight = 0.3, want 1"},
	{"select", "latency_weight", `0`, `0`, "select.success_weight + select.latency_weight = 0.7, want 1"},
	{"select", "region_bonus", `0`, `0`, "select.region_bonus 0 out of range 1–2"},
	{"select", "window", `0`, `0`, "select.window 0 out of range 1–10,000"},
}

// TestExplicitZero: an explicit zero (0, "0s") in a field whose zero would
// mean a default is an error naming the field and its bound, in JSON, in
// YAML and in a merge patch, for the document and for each policy alone;
// where zero is a value of the field's own, it is kept.
func TestExplicitZero(t *testing.T) {
	for _, tc := range zeroCases {
		jsonDoc := fmt.Sprintf(`{"%s": {"%s": %s}}`, tc.section, tc.key, tc.json)
		yamlDoc := fmt.Sprintf("%s:\n  %s: %s\n", tc.section, tc.key, tc.yaml)
		section := fmt.Sprintf(`{"%s": %s}`, tc.key, tc.json)
		ways := map[string]func() error{
			"json": func() error { _, err := policy.ParseDocument([]byte(jsonDoc)); return err },
			"yaml": func() error { _, err := policy.ParseDocumentYAML([]byte(yamlDoc)); return err },
			"patch": func() error {
				base := policy.Document{}.WithDefaults() // every field set: the patch replaces a value
				if strings.HasSuffix(tc.key, "_weight") {
					// With the other weight set, a zero weight is just a
					// pair that does not sum to 1 (Validate's error).
					base = policy.Document{}
				}
				_, err := base.Patch([]byte(jsonDoc))
				return err
			},
			"json section": func() error { return unmarshalSection(tc.section, []byte(section), json.Unmarshal) },
			"yaml section": func() error {
				return unmarshalSection(tc.section, fmt.Appendf(nil, "%s: %s\n", tc.key, tc.yaml), yaml.Unmarshal)
			},
		}
		if tc.section == "retry" {
			ways["retry patch"] = func() error { _, err := policy.RetryPolicy{}.Patch([]byte(section)); return err }
		}
		for way, decode := range ways {
			t.Run(tc.section+"."+tc.key+"/"+way, func(t *testing.T) {
				err := decode()
				if tc.want == "" {
					wantErr(t, err, "")
					return
				}
				wantErr(t, err, tc.want)
				wantErr(t, err, "leave "+tc.section+"."+tc.key+" out or set it to null")
			})
		}
	}
}

// unmarshalSection decodes data into the policy type of section.
func unmarshalSection(section string, data []byte, unmarshal func([]byte, any) error) error {
	switch section {
	case "retry":
		return unmarshal(data, new(policy.RetryPolicy))
	case "breaker":
		return unmarshal(data, new(policy.BreakerPolicy))
	default:
		return unmarshal(data, new(policy.SelectPolicy))
	}
}

// TestAbsentOrNullMeansDefault: a field left out or null still means its
// default, in JSON, YAML and a patch (which resets the field).
func TestAbsentOrNullMeansDefault(t *testing.T) {
	for _, tc := range zeroCases {
		t.Run(tc.section+"."+tc.key, func(t *testing.T) {
			for _, doc := range []string{
				fmt.Sprintf(`{"%s": {"%s": null}}`, tc.section, tc.key),
				fmt.Sprintf(`{"%s": {}}`, tc.section),
			} {
				got, err := policy.ParseDocument([]byte(doc))
				wantErr(t, err, "")
				if diff := cmp.Diff(policy.Document{Version: 1}, got); diff != "" {
					t.Errorf("ParseDocument(%s) mismatch (-want +got):\n%s", doc, diff)
				}
			}
			for _, doc := range []string{fmt.Sprintf("%s:\n  %s: null\n", tc.section, tc.key), fmt.Sprintf("%s:\n  %s:\n", tc.section, tc.key)} {
				got, err := policy.ParseDocumentYAML([]byte(doc))
				wantErr(t, err, "")
				if diff := cmp.Diff(policy.Document{Version: 1}, got); diff != "" {
					t.Errorf("ParseDocumentYAML(%q) mismatch (-want +got):\n%s", doc, diff)
				}
			}
			patch := fmt.Sprintf(`{"%s": {"%s": null}}`, tc.section, tc.key)
			if strings.HasSuffix(tc.key, "_weight") { // the weights go back to their defaults together
				patch = `{"select": {"success_weight": null, "latency_weight": null}}`
			}
			patched, err := fullDocument().Patch([]byte(patch))
			wantErr(t, err, "")
			if got := fieldOf(t, patched, tc.section, tc.key); got != nil {
				t.Errorf("after a null patch %s.%s = %v, want it left out (the default)", tc.section, tc.key, got)
			}
		})
	}
}

// fieldOf returns the wire value of section.key in d, nil when left out.
func fieldOf(t *testing.T, d policy.Document, section, key string) any {
	t.Helper()
	data, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]map[string]any
	_ = json.Unmarshal(data, &m) // "version" is no object: ignored
	return m[section][key]
}

// TestExplicitZeroCoversEveryField: every number and duration field of the
// wire form has a case in zeroCases, so a new bounded field cannot slip by.
func TestExplicitZeroCoversEveryField(t *testing.T) {
	data, err := json.Marshal(fullDocument()) // every field set
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, section := range []string{"retry", "breaker", "select"} {
		var fields map[string]any
		if err := json.Unmarshal(m[section], &fields); err != nil {
			t.Fatal(err)
		}
		for key, v := range fields {
			_, number := v.(float64)
			s, text := v.(string)
			if !number && !(text && strings.ContainsAny(s[len(s)-1:], "smh")) {
				continue // enums, flags and lists
			}
			if !slices.ContainsFunc(zeroCases, func(c zeroCase) bool { return c.section == section && c.key == key }) {
				missing = append(missing, section+"."+key)
			}
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Errorf("no explicit-zero case for %v", missing)
	}
}
