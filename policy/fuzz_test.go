package policy_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/proxywhirl/retrycoord/policy"
)

var fuzzJSONSeeds = []string{
	`{}`,
	`{"version": 1}`,
	`{"version": 2}`,
	`null`,
	`{"retry": {"max_attempts": 5, "backoff": "linear", "base_delay": "1.5s", "multiplier": 1.5, "max_delay": "1m", "jitter": "decorrelated", "retry_status": [429, 503], "timeout": "2m", "attempt_timeout": "10s", "retry_non_idempotent": true, "ignore_retry_after": true}}`,
	`{"retry": {"retry_status": []}}`,
	`{"breaker": {"failure_threshold": 7, "window": "2m", "failure_rate": 0.5, "min_calls": 50, "slow_call": "3s", "slow_call_rate": 0.8, "open_timeout": "45s", "open_backoff": 2, "max_open_timeout": "10m", "half_open_probes": 3, "probe_lease": "20s", "probe_grace": "2s", "fleet_threshold": 15, "min_reporters": 2}}`,
	`{"select": {"strategy": "round-robin", "success_weight": 0.6, "latency_weight": 0.4, "region_bonus": 1.25, "window": 500}}`,
	`{"retry": {"base_delay": "soon"}}`,
	`{"retry": {"max_attempts": 1e3}}`,
	`{"select": {"success_weight": -0}}`,
}

// checkRoundTrip fails t unless doc re-marshals, as JSON and as YAML, and
// re-parses to an equal document.
func checkRoundTrip(t *testing.T, doc policy.Document) {
	t.Helper()
	data, err := doc.MarshalJSON()
	if err != nil {
		t.Fatalf("MarshalJSON of a parsed document: %v", err)
	}
	again, err := policy.ParseDocument(data)
	if err != nil {
		t.Fatalf("ParseDocument(%s) of a marshaled document: %v", data, err)
	}
	if diff := cmp.Diff(doc, again); diff != "" {
		t.Fatalf("JSON round trip via %s mismatch (-want +got):\n%s", data, diff)
	}
	ydata, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatalf("yaml.Marshal of a parsed document: %v", err)
	}
	again, err = policy.ParseDocumentYAML(ydata)
	if err != nil {
		t.Fatalf("ParseDocumentYAML(%s) of a marshaled document: %v", ydata, err)
	}
	if diff := cmp.Diff(doc, again); diff != "" {
		t.Fatalf("YAML round trip via\n%s mismatch (-want +got):\n%s", ydata, diff)
	}
}

func FuzzParseDocument(f *testing.F) {
	for _, s := range fuzzJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := policy.ParseDocument(data)
		if err != nil {
			return
		}
		if err := doc.Validate(); err != nil {
			t.Fatalf("ParseDocument accepted an invalid document: %v", err)
		}
		checkRoundTrip(t, doc)
	})
}

func FuzzParseDocumentYAML(f *testing.F) {
	for _, s := range fuzzJSONSeeds { // JSON is YAML
		f.Add([]byte(s))
	}
	f.Add([]byte("version: 1\nretry:\n  max_attempts: 4\n  base_delay: 250ms\n  retry_status: [429]\nselect: {strategy: best}\n"))
	f.Add([]byte("retry: &r {max_attempts: 3}\nbreaker: *r\n"))
	f.Add([]byte("retry:\n  multiplier: .inf\n"))
	f.Add([]byte("select:\n  window: 2.5\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := policy.ParseDocumentYAML(data)
		if err != nil {
			return
		}
		if err := doc.Validate(); err != nil {
			t.Fatalf("ParseDocumentYAML accepted an invalid document: %v", err)
		}
		checkRoundTrip(t, doc)
	})
}

func FuzzPatch(f *testing.F) {
	for _, s := range fuzzJSONSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"retry": null, "select": {"strategy": null}}`))
	f.Add([]byte(`{"retry": {"retry_status": null}}`))
	f.Add([]byte(`[1, 2]`))
	base := policy.Document{
		Retry:   policy.RetryPolicy{MaxAttempts: 4, RetryStatus: []int{503}},
		Breaker: policy.BreakerPolicy{FailureThreshold: 8},
	}
	f.Fuzz(func(t *testing.T, patch []byte) {
		before, err := policy.ParseDocument(must(base.MarshalJSON()))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := before.Patch(patch)
		if err != nil {
			if diff := cmp.Diff(before, doc); diff != "" {
				t.Fatalf("Patch returned a changed document with error %v (-want +got):\n%s", err, diff)
			}
			return
		}
		if err := doc.Validate(); err != nil {
			t.Fatalf("Patch accepted an invalid document: %v", err)
		}
		checkRoundTrip(t, doc)
	})
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
