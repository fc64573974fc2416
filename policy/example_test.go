package policy_test

import (
	"fmt"

	"github.com/proxywhirl/retrycoord/policy"
)

func Example() {
	doc, err := policy.ParseDocument([]byte(`{
		"version": 1,
		"retry": {"max_attempts": 5, "base_delay": "500ms", "max_delay": "3s", "retry_status": [429, 503]}
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	rp := doc.Retry.WithDefaults()
	fmt.Println("backoff:", rp.Backoff, "jitter:", rp.Jitter)
	fmt.Println("retries 429:", rp.Retries(429), "POST:", rp.MayRetry("POST"))

	waits := rp.NewWaits() // one per call
	for attempt := 1; attempt < rp.MaxAttempts; attempt++ {
		fmt.Printf("wait after attempt %d: %v\n", attempt, waits.Next())
	}

	_, err = doc.Patch([]byte(`{"retry": {"max_attempts": 11}}`))
	fmt.Println(err)
	// Output:
	// backoff: exponential jitter: none
	// retries 429: true POST: false
	// wait after attempt 1: 500ms
	// wait after attempt 2: 1s
	// wait after attempt 3: 2s
	// wait after attempt 4: 3s
	// policy: retry.max_attempts 11 out of range 1–10
}

func ExampleDocument_Patch() {
	var doc policy.Document // every default
	doc, err := doc.Patch([]byte(`{"breaker": {"failure_threshold": 3, "open_timeout": "1m"}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	out, _ := doc.MarshalJSON()
	fmt.Println(string(out))
	b := doc.Breaker.WithDefaults()
	fmt.Println(b.FailureThreshold, b.FleetThreshold, b.OpenTimeout)
	// Output:
	// {"version":1,"breaker":{"failure_threshold":3,"open_timeout":"1m0s"}}
	// 3 3 1m0s
}
