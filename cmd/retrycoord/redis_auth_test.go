package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/redistest"
	"github.com/proxywhirl/retrycoord/state"
	"github.com/proxywhirl/retrycoord/state/redisledger"
	"github.com/redis/go-redis/v9"
)

const redisTestPassword = "Redis-Pa55-secret"

// ledgerRoundTrip writes an open record through a ledger at url and reads
// it back through a second one, returning the first error.
func ledgerRoundTrip(t *testing.T, cfg redisledger.Config) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	writer, reader := newTestTable(t, "writer"), newTestTable(t, "reader")
	cfg.Table, cfg.RetryMax, cfg.SnapshotTimeout = writer, 100*time.Millisecond, 2*time.Second
	w, err := redisledger.New(cfg)
	if err != nil {
		return err
	}
	defer w.Close()
	rec := state.Record{Kind: state.KindBreaker, Upstream: "http://10.1.2.3:8080", Gen: 1, Phase: state.PhaseOpen,
		HLC: writer.Clock().Now(), Origin: "writer", OpenFor: time.Minute}
	if _, err := w.Write(ctx, rec); err != nil {
		return err
	}
	cfg.Table = reader
	r, err := redisledger.New(cfg)
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := r.Snapshot(ctx); err != nil {
		return err
	}
	if got := reader.State(rec.Upstream); got != state.PhaseOpen {
		t.Fatalf("the reader sees %v, want open", got)
	}
	return nil
}

func newTestTable(t *testing.T, node string) *state.Table {
	t.Helper()
	tb, err := state.NewTable(state.Config{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// TestRedisAuth: the ledger authenticates with the URL's password, and a
// wrong or missing password fails clearly, without the password.
func TestRedisAuth(t *testing.T) {
	redis.SetLogger(redisledger.RedisLogger{})
	srv := redistest.StartWithPassword(t, redisTestPassword)
	if err := ledgerRoundTrip(t, redisledger.Config{URL: "redis://:" + redisTestPassword + "@" + srv.Addr()}); err != nil {
		t.Fatalf("with the password: %v", err)
	}
	for name, url := range map[string]string{
		"wrong password": "redis://:not-" + redisTestPassword + "@" + srv.Addr(),
		"no password":    "redis://" + srv.Addr(),
	} {
		t.Run(name, func(t *testing.T) {
			err := ledgerRoundTrip(t, redisledger.Config{URL: url})
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			// Redis answers WRONGPASS, NOAUTH, or for a big command sent
			// before AUTH "Protocol error: unauthenticated ...".
			if !strings.Contains(msg, "WRONGPASS") && !strings.Contains(msg, "NOAUTH") && !strings.Contains(msg, "unauthenticated") {
				t.Errorf("err = %q, want it to say the authentication failed", msg)
			}
			if strings.Contains(msg, redisTestPassword) {
				t.Errorf("err = %q contains the password", msg)
			}
		})
	}
}

// TestRedisTLS: rediss:// reaches a TLS redis-server; an unknown CA is
// refused unless skip_verify=true; Options with the CA verify it.
func TestRedisTLS(t *testing.T) {
	redis.SetLogger(redisledger.RedisLogger{})
	srv := redistest.StartTLS(t)
	if err := ledgerRoundTrip(t, redisledger.Config{URL: "rediss://" + srv.TLSAddr + "?skip_verify=true"}); err != nil {
		t.Fatalf("rediss with skip_verify: %v", err)
	}
	if err := ledgerRoundTrip(t, redisledger.Config{URL: "rediss://" + srv.TLSAddr}); err == nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Fatalf("rediss with an unknown CA: %v, want a certificate error", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(srv.CA)
	opts := &redis.UniversalOptions{Addrs: []string{srv.TLSAddr}, TLSConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	if err := ledgerRoundTrip(t, redisledger.Config{Options: opts}); err != nil {
		t.Fatalf("Options with the CA: %v", err)
	}
	// Plain redis:// to the TLS port does not get through.
	if err := ledgerRoundTrip(t, redisledger.Config{URL: "redis://" + srv.TLSAddr + "?dial_timeout=500ms&read_timeout=500ms"}); err == nil {
		t.Fatal("plain redis:// to the TLS port worked")
	}
}
