package coord

import (
	"context"
	"errors"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
)

// ErrNotSent marks an attempt's error after which the request provably
// never reached the upstream: the connection to the proxy was refused,
// TLS to it failed, or a reused connection was found closed before the
// request was written. Such an attempt is safe to retry for every method,
// POST included. Request functions mark their errors with NotSent.
var ErrNotSent = errors.New("coord: request not sent")

// NotSent wraps err so that errors.Is(err, ErrNotSent) holds; nil stays
// nil.
func NotSent(err error) error {
	if err == nil || errors.Is(err, ErrNotSent) {
		return err
	}
	return &notSentError{err}
}

type notSentError struct{ err error }

func (e *notSentError) Error() string   { return e.err.Error() }
func (e *notSentError) Unwrap() []error { return []error{ErrNotSent, e.err} }

// sendTrace follows one round trip with httptrace to tell what reached
// the wire.
// WroteHeaders runs on net/http's write goroutine, hence the atomics.
type sendTrace struct {
	gotConn, reused, wroteHeaders atomic.Bool
}

func (s *sendTrace) with(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) {
			s.reused.Store(i.Reused)
			s.gotConn.Store(true)
		},
		WroteHeaders: func() { s.wroteHeaders.Store(true) },
	})
}

// notSent reports whether a round trip that failed with err sent nothing
// the upstream could act on: no connection was obtained (dial, TLS or
// CONNECT to the proxy failed), or the request's header was never written
// in full (so no server can have acted on it), or net/http found the
// reused connection closed by the server while idle.
func (s *sendTrace) notSent(err error) bool {
	return !s.gotConn.Load() || !s.wroteHeaders.Load() || isServerClosedIdle(err)
}

// stale reports whether err is a keep-alive race: a reused connection that
// the server had closed, found so before the request was sent. It is not
// the upstream's failure.
func (s *sendTrace) stale(err error) bool {
	return s.reused.Load() && s.notSent(err)
}

// isServerClosedIdle matches net/http's unexported errServerClosedIdle.
func isServerClosedIdle(err error) bool {
	return err != nil && strings.Contains(err.Error(), "http: server closed idle connection")
}
