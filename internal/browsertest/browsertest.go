package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// EnvBinary names the environment variable that may point at the browser
// binary; otherwise chromium, chromium-browser, google-chrome and
// google-chrome-stable are looked up on PATH, in that order.
const EnvBinary = "RETRYCOORD_CHROMIUM"

// Binary returns the path of the Chromium to run, or an error that says
// how to install it.
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("browsertest: %s=%s: %w", EnvBinary, p, err)
		}
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("browsertest: no chromium on PATH: the live view's browser tests need it; " +
		"run scripts/ensure-test-deps.sh (make test does), which installs Debian's chromium, or set " + EnvBinary)
}

// Browser is one headless Chromium with one tab. Its methods are safe for
// concurrent use.
type Browser struct {
	// Ctx is the tab's context, for chromedp.Run.
	Ctx context.Context

	mu     sync.Mutex // guards errors
	errors []string
}

// Start starts a headless Chromium for t (with --no-sandbox only when the
// test runs as root, where Chromium's sandbox cannot start) and stops it
// when t ends. It fails t when there is no Chromium.
func Start(t testing.TB) *Browser {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 900),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &Browser{Ctx: ctx}
	messages := chromedp.Console(ctx) // starts the browser; subscribed from here on
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				if ctx.Err() == nil {
					b.add(fmt.Sprintf("console stream: %v", err))
				}
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.add(fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		<-done
	})
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int]("1")); err != nil {
		t.Fatalf("browsertest: start %s: %v", bin, err)
	}
	return b
}

func (b *Browser) add(s string) {
	b.mu.Lock()
	b.errors = append(b.errors, s)
	b.mu.Unlock()
}

// Errors returns the console errors, uncaught exceptions and error log
// entries (failed loads, refused by the page's security policy) seen so far.
func (b *Browser) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}
