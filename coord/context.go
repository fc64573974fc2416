package coord

import (
	"context"

	"github.com/proxywhirl/retrycoord/policy"
)

// requestOpts are the per-request settings carried by a context. They are
// looked up once per request.
type requestOpts struct {
	retry     *policy.RetryPolicy // validated, defaults filled; nil: the Document's
	region    string
	method    string
	hasMethod bool
	site      string
	hasSite   bool
}

type optsKey struct{}

func optsFrom(ctx context.Context) *requestOpts {
	o, _ := ctx.Value(optsKey{}).(*requestOpts)
	return o
}

func withOpts(ctx context.Context, f func(*requestOpts)) context.Context {
	var o requestOpts
	if cur := optsFrom(ctx); cur != nil {
		o = *cur
	}
	f(&o)
	return context.WithValue(ctx, optsKey{}, &o)
}

// WithRetryPolicy returns a context under which Do and Transport use p
// (defaults filled in) instead of the Document's retry policy. An invalid p
// is an error.
func WithRetryPolicy(ctx context.Context, p policy.RetryPolicy) (context.Context, error) {
	if err := p.Validate(); err != nil {
		return ctx, err
	}
	p = p.WithDefaults()
	return withOpts(ctx, func(o *requestOpts) { o.retry = &p }), nil
}

// WithRegion returns a context whose requests prefer upstreams of region
// (by the selection policy's RegionBonus).
func WithRegion(ctx context.Context, region string) context.Context {
	return withOpts(ctx, func(o *requestOpts) { o.region = region })
}

// WithMethod tells Do the HTTP method of the calls it makes, so that a
// non-idempotent one (POST, PATCH) gets a single attempt unless the policy
// has RetryNonIdempotent. Without it Do treats calls as idempotent.
// Transport knows each request's method and needs no help.
func WithMethod(ctx context.Context, method string) context.Context {
	return withOpts(ctx, func(o *requestOpts) { o.method, o.hasMethod = method, true })
}
