package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client is a typed client of the admin API. It is safe for concurrent
// use. Every method returns an API error as *Error.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// New returns a client of the API at baseURL (e.g.
// "http://127.0.0.1:7947"). token is sent as a bearer token when not
// empty; httpClient nil means http.DefaultClient.
func New(baseURL, token string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, hc: httpClient}
}

// maxAnswer bounds what is read of an answer that is not decoded.
const maxAnswer = 1 << 20

// seg escapes an upstream key as one path segment.
func seg(key string) string { return url.PathEscape(key) }

// do sends a request with an optional JSON body and decodes a JSON answer
// into out (unless nil). Statuses of 400 and above come back as *Error.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return readError(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		*raw = b
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("client: %s %s: bad answer: %w", method, path, err)
	}
	return nil
}

func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		var b []byte
		switch v := body.(type) {
		case json.RawMessage:
			b = v
		case []byte:
			b = v
		default:
			var err error
			if b, err = json.Marshal(body); err != nil {
				return nil, fmt.Errorf("client: encode the request: %w", err)
			}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	return resp, nil
}

// readError decodes a JSON error, or makes one from the status.
func readError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var eb ErrorBody
	if json.Unmarshal(b, &eb) == nil && eb.Error != nil && eb.Error.Message != "" {
		eb.Error.Status = resp.StatusCode
		return eb.Error
	}
	msg := strings.TrimSpace(string(b))
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &Error{Status: resp.StatusCode, Code: "http_" + strconv.Itoa(resp.StatusCode), Message: msg}
}

// Health returns GET /v1/health.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	return h, c.do(ctx, "GET", "/v1/health", nil, &h)
}

// Ready returns GET /v1/ready. A node that is not ready (503) is a
// Readiness with Ready false and a nil error.
func (c *Client) Ready(ctx context.Context) (Readiness, error) {
	var r Readiness
	err := c.do(ctx, "GET", "/v1/ready", nil, &r)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusServiceUnavailable {
		return Readiness{Reason: e.Message}, nil
	}
	return r, err
}

// Members returns the fleet's members.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var ms []Member
	return ms, c.do(ctx, "GET", "/v1/members", nil, &ms)
}

// Breakers lists the breakers; phase filters them ("open", "half-open",
// "closed"; "" for all).
func (c *Client) Breakers(ctx context.Context, phase string) ([]Breaker, error) {
	p := "/v1/breakers"
	if phase != "" {
		p += "?state=" + url.QueryEscape(phase)
	}
	var bs []Breaker
	return bs, c.do(ctx, "GET", p, nil, &bs)
}

// BreakerQuery filters a breaker list: State ("open", "half-open",
// "closed"), Level ("proxy", "pair", "site") and Site (one site's pairs and
// the site itself). Empty fields do not filter.
type BreakerQuery struct {
	State, Level, Site string
}

// BreakersWhere lists the breakers that q selects.
func (c *Client) BreakersWhere(ctx context.Context, q BreakerQuery) ([]Breaker, error) {
	v := url.Values{}
	for k, s := range map[string]string{"state": q.State, "level": q.Level, "site": q.Site} {
		if s != "" {
			v.Set(k, s)
		}
	}
	p := "/v1/breakers"
	if len(v) > 0 {
		p += "?" + v.Encode()
	}
	var bs []Breaker
	return bs, c.do(ctx, "GET", p, nil, &bs)
}

// breakerPath is the path of the breaker of upstream for site: a proxy's
// (site ""), a pair's (both) or a site's (upstream "").
func breakerPath(upstream, site, op string) string {
	if upstream == "" {
		return "/v1/sites/" + seg(site) + op
	}
	p := "/v1/breakers/" + seg(upstream) + op
	if site != "" {
		p += "?site=" + url.QueryEscape(site)
	}
	return p
}

// BreakerAt returns the breaker of upstream for site: a proxy's (site
// ""), a (proxy, site) pair's, or a site's (upstream "").
func (c *Client) BreakerAt(ctx context.Context, upstream, site string) (Breaker, error) {
	var b Breaker
	return b, c.do(ctx, "GET", breakerPath(upstream, site, ""), nil, &b)
}

// TripAt is Trip for the breaker of upstream for site (see BreakerAt).
func (c *Client) TripAt(ctx context.Context, upstream, site string, openFor time.Duration, reason string) (Breaker, error) {
	req := TripRequest{Reason: reason}
	if openFor != 0 {
		req.For = openFor.String()
	}
	var b Breaker
	return b, c.do(ctx, "POST", breakerPath(upstream, site, "/trip"), req, &b)
}

// ResetAt is Reset for the breaker of upstream for site (see BreakerAt).
func (c *Client) ResetAt(ctx context.Context, upstream, site string) (Breaker, error) {
	var b Breaker
	return b, c.do(ctx, "POST", breakerPath(upstream, site, "/reset"), nil, &b)
}

// Breaker returns one upstream's breaker.
func (c *Client) Breaker(ctx context.Context, upstream string) (Breaker, error) {
	var b Breaker
	return b, c.do(ctx, "GET", "/v1/breakers/"+seg(upstream), nil, &b)
}

// Trip opens an upstream's breaker fleet-wide for openFor (0: the policy's
// open time; else 1s–24h) with a reason.
func (c *Client) Trip(ctx context.Context, upstream string, openFor time.Duration, reason string) (Breaker, error) {
	req := TripRequest{Reason: reason}
	if openFor != 0 {
		req.For = openFor.String()
	}
	var b Breaker
	return b, c.do(ctx, "POST", "/v1/breakers/"+seg(upstream)+"/trip", req, &b)
}

// Reset closes an upstream's breaker fleet-wide.
func (c *Client) Reset(ctx context.Context, upstream string) (Breaker, error) {
	var b Breaker
	return b, c.do(ctx, "POST", "/v1/breakers/"+seg(upstream)+"/reset", nil, &b)
}

// PolicyJSON returns the policy document in force as JSON.
func (c *Client) PolicyJSON(ctx context.Context) (json.RawMessage, error) {
	var raw json.RawMessage
	return raw, c.do(ctx, "GET", "/v1/policy", nil, &raw)
}

// EffectivePolicyJSON returns the policy document in force with every
// default filled in (GET /v1/policy?effective=true), as JSON.
func (c *Client) EffectivePolicyJSON(ctx context.Context) (json.RawMessage, error) {
	var raw json.RawMessage
	return raw, c.do(ctx, "GET", "/v1/policy?effective=true", nil, &raw)
}

// PatchPolicy applies a JSON merge patch to the fleet's policy document
// and returns the new document as JSON. patch is a json.RawMessage, a
// []byte of JSON, or any value that marshals to a JSON object.
func (c *Client) PatchPolicy(ctx context.Context, patch any) (json.RawMessage, error) {
	var raw json.RawMessage
	return raw, c.do(ctx, "PATCH", "/v1/policy", patch, &raw)
}

// Pool lists this node's pool (URLs redacted).
func (c *Client) Pool(ctx context.Context) ([]Upstream, error) {
	var us []Upstream
	return us, c.do(ctx, "GET", "/v1/pool", nil, &us)
}

// AddUpstream adds a proxy URL with metadata to the fleet's pool.
func (c *Client) AddUpstream(ctx context.Context, proxyURL string, meta map[string]string) (Upstream, error) {
	var u Upstream
	return u, c.do(ctx, "POST", "/v1/pool", AddRequest{URL: proxyURL, Meta: meta}, &u)
}

// UpdatePool adds and removes upstreams of the fleet's pool as one change:
// nothing changes when any entry is bad. Use it for more than a few: each
// AddUpstream copies the node's pool once.
func (c *Client) UpdatePool(ctx context.Context, req PoolUpdateRequest) (PoolUpdate, error) {
	var u PoolUpdate
	return u, c.do(ctx, "PATCH", "/v1/pool", req, &u)
}

// RemoveUpstream removes an upstream from the fleet's pool.
func (c *Client) RemoveUpstream(ctx context.Context, upstream string) error {
	return c.do(ctx, "DELETE", "/v1/pool/"+seg(upstream), nil, nil)
}

// Select asks for an eligible upstream, preferring region and avoiding
// the excluded keys. The answer carries the proxy URL with credentials.
func (c *Client) Select(ctx context.Context, region string, exclude ...string) (Selection, error) {
	return c.SelectFor(ctx, SelectRequest{Region: region, Exclude: exclude})
}

// SelectFor is Select with every field of the request, the site included:
// an open site is an *Error with status 503.
func (c *Client) SelectFor(ctx context.Context, req SelectRequest) (Selection, error) {
	var s Selection
	return s, c.do(ctx, "POST", "/v1/select", req, &s)
}

// Report tells the coordinator the outcome of an attempt.
func (c *Client) Report(ctx context.Context, r ReportRequest) (ReportResult, error) {
	var out ReportResult
	return out, c.do(ctx, "POST", "/v1/report", r, &out)
}

// Summary returns the retry metrics of the kept hours.
func (c *Client) Summary(ctx context.Context) (Summary, error) {
	var s Summary
	return s, c.do(ctx, "GET", "/v1/metrics/summary", nil, &s)
}

func hoursQuery(hours int) string {
	if hours == 0 {
		return ""
	}
	return "?hours=" + strconv.Itoa(hours)
}

// TimeSeries returns hourly retry metrics for the last hours (1–168;
// 0: the default, 24).
func (c *Client) TimeSeries(ctx context.Context, hours int) ([]HourStats, error) {
	var out []HourStats
	return out, c.do(ctx, "GET", "/v1/metrics/timeseries"+hoursQuery(hours), nil, &out)
}

// ByProxy returns per-upstream metrics for the last hours.
func (c *Client) ByProxy(ctx context.Context, hours int) ([]ProxyStats, error) {
	var out []ProxyStats
	return out, c.do(ctx, "GET", "/v1/metrics/proxies"+hoursQuery(hours), nil, &out)
}

// Events returns the breaker events of the last hours.
func (c *Client) Events(ctx context.Context, hours int) ([]Event, error) {
	var out []Event
	return out, c.do(ctx, "GET", "/v1/metrics/events"+hoursQuery(hours), nil, &out)
}

// Keys lists the node's gossip keys as fingerprints (needs the token).
func (c *Client) Keys(ctx context.Context) ([]Key, error) {
	var out []Key
	return out, c.do(ctx, "GET", "/v1/keys", nil, &out)
}

// InstallKey adds a base64 gossip key to the node's keyring: the node
// decrypts with it from now on. It returns the keyring as it is now.
func (c *Client) InstallKey(ctx context.Context, key string) ([]Key, error) {
	var out []Key
	return out, c.do(ctx, "POST", "/v1/keys", KeyRequest{Key: key}, &out)
}

// UseKey makes an installed gossip key the one the node encrypts with.
func (c *Client) UseKey(ctx context.Context, key string) ([]Key, error) {
	var out []Key
	return out, c.do(ctx, "POST", "/v1/keys/use", KeyRequest{Key: key}, &out)
}

// RemoveKey takes a gossip key off the node's keyring (not the primary).
func (c *Client) RemoveKey(ctx context.Context, key string) ([]Key, error) {
	var out []Key
	return out, c.do(ctx, "DELETE", "/v1/keys", KeyRequest{Key: key}, &out)
}
