package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/proxywhirl/retrycoord/coord/api"
	"github.com/proxywhirl/retrycoord/internal/browsertest"
	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"go.uber.org/goleak"
)

// EnvUIShot names the file TestUIFleet writes its screenshot to (make
// ui-shot sets it to bin/ui.png); unset, the picture is not kept.
const EnvUIShot = "RETRYCOORD_UI_SHOT"

// TestUIFleet opens node 1's live view in a headless Chromium while three
// agents run in this process over real memberlist: a trip made through
// node 2's API appears in node 1's grid within a second, and a reset
// through node 3 clears it.
func TestUIFleet(t *testing.T) {
	t.Cleanup(func() {
		goleak.VerifyNone(t, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
	})
	farm := testproxy.Start(t, 8)
	poolFile := filepath.Join(t.TempDir(), "pool.txt")
	var pool strings.Builder
	for i, u := range farm.URLs() {
		fmt.Fprintf(&pool, "%s region=%s\n", u, []string{"eu", "us"}[i%2])
	}
	if err := os.WriteFile(poolFile, []byte(pool.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	a1 := startTestAgent(t, testAgentSettings(t, "node-1", poolFile))
	a2 := startTestAgent(t, testAgentSettings(t, "node-2", poolFile, a1.node.Addr()))
	a3 := startTestAgent(t, testAgentSettings(t, "node-3", poolFile, a1.node.Addr()))
	clients := []*api.Client{}
	for _, a := range []*agent{a1, a2, a3} {
		clients = append(clients, api.NewClient("http://"+a.apiAddr, testToken, nil))
	}
	ctx := context.Background()
	testutil.Eventually(t, 15*time.Second, "all three are ready with three members", func() bool {
		for _, c := range clients {
			if r, err := c.Ready(ctx); err != nil || !r.Ready {
				return false
			}
			if ms, err := c.Members(ctx); err != nil || len(ms) != 3 {
				return false
			}
		}
		return true
	})

	b := browsertest.Start(t)
	step := func(what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(b.Ctx, timeout)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v (browser errors: %q)", what, err, b.Errors())
		}
	}
	// row selects a proxy's row header, which shows the proxy's own breaker
	// (with or without site columns).
	row := func(key, phase string) string {
		return fmt.Sprintf(`#grid .rowhead[data-proxy=%q][data-phase=%q]`, key, phase)
	}
	step("open node 1's view", 30*time.Second,
		chromedp.Navigate("http://"+a1.apiAddr+"/ui/"),
		chromedp.WaitVisible(`body[data-loaded="1"]`),
		chromedp.WaitVisible(`#conn[data-state="live"]`),
		chromedp.WaitVisible(`#members tr[data-name="node-3"]`),
		chromedp.WaitVisible(row(farm.Proxies[0].URL(), "closed")))

	// A trip through node 2 reaches node 1 by gossip, then the page by the
	// event stream: in node 1's grid within a second.
	tripped := farm.Proxies[0].URL()
	if _, err := clients[1].Trip(ctx, tripped, 5*time.Minute, "maintenance window"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := chromedp.Run(b.Ctx, chromedp.Poll[bool](
		fmt.Sprintf(`document.querySelector(%q) !== null`, row(tripped, "open")),
		chromedp.WithPollingTimeout(time.Second)))
	if err != nil {
		t.Fatalf("a trip through node 2 is not in node 1's grid within 1s: %v (browser errors: %q)", err, b.Errors())
	}
	t.Logf("a trip through node 2 was in node 1's grid after %v", time.Since(start).Round(time.Millisecond))
	step("the open breaker's details", 10*time.Second,
		chromedp.WaitVisible(fmt.Sprintf(`#open li[data-proxy=%q][data-phase="open"]:not([data-owner=""])`, tripped)))
	why := textOf(t, b, fmt.Sprintf(`#open li[data-proxy=%q]`, tripped))
	for _, want := range []string{"maintenance window", "by node-2", "probe owner node-"} {
		if !strings.Contains(why, want) {
			t.Errorf("why %s is open: %q, want it to say %q", tripped, why, want)
		}
	}

	// Two more open, for the picture; node 1's delays from both others show
	// after the next snapshot (every 5 s).
	if _, err := clients[2].Trip(ctx, farm.Proxies[3].URL(), 2*time.Minute, "407 from the proxy"); err != nil {
		t.Fatal(err)
	}
	if _, err := clients[0].Trip(ctx, farm.Proxies[6].URL(), 30*time.Second, "connection refused ×5"); err != nil {
		t.Fatal(err)
	}
	// One site open fleet-wide, and two proxies banned on another site.
	if _, err := clients[1].TripAt(ctx, "", "example.com", 10*time.Minute, "failing through 5 proxies"); err != nil {
		t.Fatal(err)
	}
	for i, reason := range map[int]string{1: "403 bans", 4: "429 too many requests"} {
		if _, err := clients[2].TripAt(ctx, farm.Proxies[i].URL(), "shop.example", 3*time.Minute, reason); err != nil {
			t.Fatal(err)
		}
	}
	step("the site and the pairs in node 1's grid", 10*time.Second,
		chromedp.WaitVisible(`#grid .colhead[data-site="example.com"][data-phase="open"]`),
		chromedp.WaitVisible(fmt.Sprintf(`#grid .cell[data-proxy=%q][data-site="shop.example"][data-phase="open"]`, farm.Proxies[1].URL())),
		chromedp.WaitVisible(`#open li[data-site="example.com"][data-phase="open"]:not([data-owner=""])`))
	step("delays from node 2 and node 3", 15*time.Second,
		chromedp.WaitVisible(row(farm.Proxies[3].URL(), "open")),
		chromedp.WaitVisible(row(farm.Proxies[6].URL(), "open")),
		chromedp.WaitVisible(`#members tr[data-name="node-2"][data-delay="1"]`),
		chromedp.WaitVisible(`#members tr[data-name="node-3"][data-delay="1"]`))
	if path := os.Getenv(EnvUIShot); path != "" {
		png, err := chromedp.Run(b.Ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
	}

	// A reset through node 3 clears it in node 1's view.
	if _, err := clients[2].Reset(ctx, tripped); err != nil {
		t.Fatal(err)
	}
	step("the reset through node 3 in node 1's grid", 10*time.Second,
		chromedp.WaitVisible(row(tripped, "closed")),
		chromedp.WaitNotPresent(fmt.Sprintf(`#open li[data-proxy=%q]`, tripped)))
	if errs := b.Errors(); len(errs) > 0 {
		t.Fatalf("the page logged errors: %q", errs)
	}
}

// textOf returns the text of the first element sel matches.
func textOf(t *testing.T, b *browsertest.Browser, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.TextContent(sel))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}
