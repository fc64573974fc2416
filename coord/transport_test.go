package coord

import (
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/proxywhirl/retrycoord/internal/testproxy"
)

// failingBody fails on its first read, as a client that hangs up mid-upload.
type failingBody struct{}

func (failingBody) Read([]byte) (int, error) { return 0, errors.New("client went away") }
func (failingBody) Close() error             { return nil }

func TestUnreadableRequestBodyIsFatal(t *testing.T) {
	farm := testproxy.Start(t, 2)
	origin := testproxy.NewOrigin(t)
	_, cl := setup(t, farm, Config{})
	req, _ := http.NewRequest(http.MethodPut, origin.Server().URL+"/upload", io.NopCloser(failingBody{}))
	resp, err := cl.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("a request whose body fails succeeded")
	}
	if !errors.Is(err, ErrFatal) {
		t.Fatalf("err = %v, want one wrapping ErrFatal (the client's fault, not an upstream's)", err)
	}
	if n := farm.Requests(); n != 0 {
		t.Fatalf("the proxies saw %d requests, want 0", n)
	}
}
