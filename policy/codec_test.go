package policy_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/proxywhirl/retrycoord/policy"
)

// fullDocument sets every field to a valid, non-default value.
func fullDocument() policy.Document {
	return policy.Document{
		Version: 1,
		Retry: policy.RetryPolicy{
			MaxAttempts: 5, Backoff: policy.BackoffLinear, BaseDelay: 1500 * time.Millisecond,
			Multiplier: 1.5, MaxDelay: 90 * time.Second, Jitter: policy.JitterDecorrelated,
			RetryStatus: []int{408, 429, 503}, Timeout: 2 * time.Minute, AttemptTimeout: 10 * time.Second,
			RetryNonIdempotent: true, IgnoreRetryAfter: true,
		},
		Breaker: policy.BreakerPolicy{
			FailureThreshold: 7, Window: 2 * time.Minute, FailureRate: 0.5, MinCalls: 50,
			SlowCall: 3 * time.Second, SlowCallRate: 0.8, OpenTimeout: 45 * time.Second, OpenBackoff: 2,
			MaxOpenTimeout: 10 * time.Minute, HalfOpenProbes: 3, ProbeLease: 20 * time.Second,
			ProbeGrace: 2 * time.Second, FleetThreshold: 15, MinReporters: 2,
		},
		Select: policy.SelectPolicy{
			Strategy: policy.StrategyRoundRobin, SuccessWeight: 0.6, LatencyWeight: 0.4, RegionBonus: 1.25, Window: 500,
		},
	}
}

func TestDocumentJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		doc  policy.Document
	}{
		{"zero", policy.Document{Version: 1}},
		{"full", fullDocument()},
		{"no retry status", policy.Document{Version: 1, Retry: policy.RetryPolicy{RetryStatus: []int{}}}},
		{"defaults spelled out", policy.Document{}.WithDefaults()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := json.Marshal(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			got, err := policy.ParseDocument(data)
			if err != nil {
				t.Fatalf("ParseDocument(%s): %v", data, err)
			}
			if diff := cmp.Diff(tt.doc, got); diff != "" {
				t.Errorf("round trip of %s mismatch (-want +got):\n%s", data, diff)
			}
		})
	}
}

func TestDocumentYAMLRoundTrip(t *testing.T) {
	for name, doc := range map[string]policy.Document{
		"zero":            {Version: 1},
		"full":            fullDocument(),
		"no retry status": {Version: 1, Retry: policy.RetryPolicy{RetryStatus: []int{}}},
	} {
		t.Run(name, func(t *testing.T) {
			data, err := yaml.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			got, err := policy.ParseDocumentYAML(data)
			if err != nil {
				t.Fatalf("ParseDocumentYAML(%s): %v", data, err)
			}
			if diff := cmp.Diff(doc, got); diff != "" {
				t.Errorf("round trip of\n%s mismatch (-want +got):\n%s", data, diff)
			}
		})
	}
}

func TestDocumentMarshalJSON(t *testing.T) {
	tests := []struct {
		name string
		doc  policy.Document
		want string
	}{
		{"zero writes the version", policy.Document{}, `{"version":1}`},
		{
			"snake case, names and duration strings",
			policy.Document{Retry: policy.RetryPolicy{MaxAttempts: 4, Backoff: policy.BackoffFixed, BaseDelay: 1500 * time.Millisecond, RetryStatus: []int{}}, Select: policy.SelectPolicy{Strategy: policy.StrategyBest}},
			`{"version":1,"retry":{"max_attempts":4,"backoff":"fixed","base_delay":"1.5s","retry_status":[]},"select":{"strategy":"best"}}`,
		},
		{
			"breaker",
			policy.Document{Breaker: policy.BreakerPolicy{Window: 30 * time.Second, FleetThreshold: 9}},
			`{"version":1,"breaker":{"window":"30s","fleet_threshold":9}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.doc.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("MarshalJSON() = %s, want %s", got, tt.want)
			}
		})
	}
	_, err := policy.Document{Retry: policy.RetryPolicy{Jitter: 9}}.MarshalJSON()
	wantErr(t, err, "retry.jitter 9 out of range")
}

func TestParseDocument(t *testing.T) {
	data := `{
		"version": 1,
		"retry": {"max_attempts": 4, "backoff": "linear", "base_delay": "2s", "jitter": "full", "retry_status": [429, 503], "timeout": "1m"},
		"breaker": {"failure_threshold": 3, "open_timeout": "10s"},
		"select": {"strategy": "random", "success_weight": 1}
	}`
	want := policy.Document{
		Version: 1,
		Retry: policy.RetryPolicy{MaxAttempts: 4, Backoff: policy.BackoffLinear, BaseDelay: 2 * time.Second,
			Jitter: policy.JitterFull, RetryStatus: []int{429, 503}, Timeout: time.Minute},
		Breaker: policy.BreakerPolicy{FailureThreshold: 3, OpenTimeout: 10 * time.Second},
		Select:  policy.SelectPolicy{Strategy: policy.StrategyRandom, SuccessWeight: 1},
	}
	got, err := policy.ParseDocument([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseDocument mismatch (-want +got):\n%s", diff)
	}

	yamlData := `
version: 1
retry:
  max_attempts: 4
  backoff: linear
  base_delay: 2s
  jitter: full
  retry_status: [429, 503]
  timeout: 1m
breaker: {failure_threshold: 3, open_timeout: 10s}
select:
  strategy: random
  success_weight: 1
`
	got, err = policy.ParseDocumentYAML([]byte(yamlData))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseDocumentYAML mismatch (-want +got):\n%s", diff)
	}
}

func TestParseDocumentErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", ``, "policy: empty document"},
		{"null", `null`, "document is null"},
		{"array", `[]`, "got array, want an object"},
		{"truncated", `{"retry": {`, "policy: invalid json"},
		{"trailing data", `{} {}`, "policy: invalid json"},
		{"version 2", `{"version": 2}`, "policy: unsupported document version 2 (this build reads version 1)"},
		{"version 2 with unknown fields", `{"version": 2, "routing": {}}`, "unsupported document version 2"},
		{"version string", `{"version": "1"}`, "policy: version: got string"},
		{"unknown top-level field", `{"retries": {}}`, `policy: unknown field "retries" in document (valid: version, retry, breaker, select)`},
		{"unknown retry field", `{"retry": {"max_attempt": 3}}`, `policy: unknown field "max_attempt" in retry`},
		{"keys are case sensitive", `{"retry": {"Max_Attempts": 3}}`, `unknown field "Max_Attempts" in retry`},
		{"unknown breaker field", `{"breaker": {"threshold": 3}}`, `unknown field "threshold" in breaker`},
		{"unknown select field", `{"select": {"weight": 1}}`, `unknown field "weight" in select`},
		{"bad duration", `{"retry": {"base_delay": "soon"}}`, `policy: retry.base_delay: invalid duration "soon"`},
		{"duration without unit", `{"breaker": {"window": "60"}}`, `policy: breaker.window: invalid duration "60"`},
		{"duration as number", `{"retry": {"max_delay": 30}}`, `policy: retry.max_delay: got number, want a duration string such as "1.5s"`},
		{"bad enum", `{"retry": {"jitter": "half"}}`, `policy: retry.jitter: unknown jitter "half" (valid: none, full, equal, decorrelated)`},
		{"bad strategy", `{"select": {"strategy": "fastest"}}`, `policy: select.strategy: unknown strategy "fastest"`},
		{"int as float", `{"retry": {"max_attempts": 2.5}}`, `policy: retry.max_attempts: got number 2.5, want int`},
		{"section not an object", `{"breaker": 5}`, `policy: breaker: got number, want an object`},
		{"status not an array", `{"retry": {"retry_status": 503}}`, `policy: retry.retry_status: got number, want an array`},
		{"out of range", `{"retry": {"max_attempts": 11}}`, "policy: retry.max_attempts 11 out of range 1–10"},
		{"weights", `{"select": {"success_weight": 0.5}}`, "select.success_weight + select.latency_weight = 0.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.ParseDocument([]byte(tt.in))
			wantErr(t, err, tt.want)
		})
	}
}

func TestParseDocumentYAMLErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", "policy: empty document"},
		{"comments only", "# nothing\n", "policy: empty document"},
		{"null", "~\n", "document is null"},
		{"sequence", "- 1\n", "policy: line 1: document must be a mapping"},
		{"syntax", "retry: {\n", "policy: invalid yaml"},
		{"two documents", "version: 1\n---\nversion: 1\n", "policy: more than one yaml document"},
		{"version 2", "version: 2\nrouting: {}\n", "policy: unsupported document version 2"},
		{"unknown top-level field", "version: 1\nretries: {}\n", `policy: line 2: unknown field "retries" in document`},
		{"unknown retry field", "retry:\n  max_attempts: 3\n  maxattempts: 3\n", `policy: line 3: unknown field "maxattempts" in retry`},
		{"duplicate field", "retry:\n  max_attempts: 3\n  max_attempts: 4\n", `policy: line 3: retry: field "max_attempts" given twice`},
		{"bad duration", "breaker:\n  window: 60\n", `policy: breaker.window: invalid duration "60"`},
		{"bad enum", "retry:\n  backoff: cubic\n", `policy: retry.backoff: unknown backoff "cubic"`},
		{"wrong type", "retry:\n  max_attempts: many\n", "policy: retry: line 2: cannot unmarshal"},
		{"section not a mapping", "select: p2c\n", "policy: line 1: select must be a mapping"},
		{"NaN", "retry:\n  multiplier: .nan\n", "policy: retry.multiplier NaN out of range 1.1–10"},
		{"float for int", "select:\n  window: 0.5\n", "policy: line 2: select.window: got 0.5, want an integer"},
		{"float status", "retry:\n  retry_status: [503, 502.5]\n", "policy: line 2: retry.retry_status: got 502.5, want an integer"},
		{"float version", "version: 1.5\n", "policy: line 1: version: got 1.5, want an integer"},
		{"out of range", "breaker:\n  min_reporters: 0.5e4\n", "want an integer"},
		{"out of range", "breaker:\n  min_reporters: 5000\n", "policy: breaker.min_reporters 5000 out of range 1–1,000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.ParseDocumentYAML([]byte(tt.in))
			wantErr(t, err, tt.want)
		})
	}
}

func TestPoliciesStandalone(t *testing.T) {
	// Policies embedded in a caller's own config, decoded by the caller's
	// decoder, are as strict as ParseDocument, short of bounds.
	type config struct {
		Retry   policy.RetryPolicy   `json:"retry" yaml:"retry"`
		Breaker policy.BreakerPolicy `json:"breaker" yaml:"breaker"`
		Select  policy.SelectPolicy  `json:"select" yaml:"select"`
		Doc     policy.Document      `json:"doc" yaml:"doc"`
	}
	want := config{
		Retry:   fullDocument().Retry,
		Breaker: fullDocument().Breaker,
		Select:  fullDocument().Select,
		Doc:     fullDocument(),
	}
	t.Run("json", func(t *testing.T) {
		data, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		var got config
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("round trip mismatch (-want +got):\n%s", diff)
		}
		var c config
		wantErr(t, json.Unmarshal([]byte(`{"retry": {"tries": 3}}`), &c), `unknown field "tries" in retry`)
		wantErr(t, json.Unmarshal([]byte(`{"doc": {"select": {"window": "1m"}}}`), &c), `select.window: got string`)
	})
	t.Run("yaml", func(t *testing.T) {
		data, err := yaml.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		var got config
		if err := yaml.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("round trip mismatch (-want +got):\n%s", diff)
		}
		var c config
		wantErr(t, yaml.Unmarshal([]byte("breaker:\n  treshold: 3\n"), &c), `policy: line 2: unknown field "treshold" in breaker`)
		wantErr(t, yaml.Unmarshal([]byte("doc:\n  select:\n    stratgy: best\n"), &c), `policy: line 3: unknown field "stratgy" in select`)
	})
}
