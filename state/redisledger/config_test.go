package redisledger

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/proxywhirl/retrycoord/state"
	"github.com/redis/go-redis/v9"
)

func TestNewURL(t *testing.T) {
	tb := newTable(t, "n1")
	tests := []struct {
		name    string
		url     string
		wantErr string // "" means success
	}{
		{"plain", "redis://127.0.0.1:6379/0", ""},
		{"password", "redis://:s3cret@127.0.0.1:6379", ""},
		{"tls", "rediss://user:s3cret@127.0.0.1:6380", ""},
		{"cluster", "redis+cluster://:s3cret@127.0.0.1:7000?addr=127.0.0.1:7001", ""},
		{"sentinel", "redis+sentinel://127.0.0.1:26379?master_name=mymaster", ""},
		{"sentinel without master", "redis+sentinel://127.0.0.1:26379", "master_name"},
		{"bad scheme", "http://:s3cret@127.0.0.1:6379", "unknown scheme"},
		{"bad db", "redis://:s3cret@127.0.0.1:6379/s3cret", "invalid"},
		{"bad option", "redis://:s3cret@127.0.0.1:6379?s3cret=1", "invalid"},
		{"unparsable", "redis://:s3cret@127.0.0.1:6379\x7f", "invalid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := New(Config{URL: tt.url, Table: tb})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				_ = l.Close()
				return
			}
			if err == nil {
				_ = l.Close()
				t.Fatalf("New(%q) succeeded, want error containing %q", tt.url, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error reveals the password: %q", err)
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	tb := newTable(t, "n1")
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no store", Config{URL: "redis://127.0.0.1:6379"}},
		{"no redis", Config{Table: tb}},
		{"two sources", Config{URL: "redis://127.0.0.1:6379", Client: client, Table: tb}},
		{"braces", Config{URL: "redis://127.0.0.1:6379", Table: tb, Prefix: "{x}"}},
		{"negative queue", Config{URL: "redis://127.0.0.1:6379", Table: tb, QueueSize: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if l, err := New(tt.cfg); err == nil {
				_ = l.Close()
				t.Fatal("New succeeded")
			}
		})
	}
	// An existing client is not the ledger's to close.
	l, err := New(Config{Client: client, Table: tb})
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
	if err := client.Ping(t.Context()).Err(); err != nil && strings.Contains(err.Error(), "closed") {
		t.Fatalf("Close closed a client it did not build: %v", err)
	}
}

func TestKeysShareOneSlot(t *testing.T) {
	k := newKeys("retrycoord")
	rec := k.of(state.Record{Kind: state.KindPool, Upstream: "http://p:1"})
	for _, key := range []string{rec, k.index, k.stream} {
		if !strings.HasPrefix(key, "{retrycoord}:") {
			t.Errorf("key %q lacks the hash tag", key)
		}
	}
}

func TestRedisLogger(t *testing.T) {
	var buf strings.Builder
	lg := RedisLogger{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	lg.Printf(t.Context(), "dial %s: %v", "127.0.0.1:1", "refused")
	if got := buf.String(); !strings.Contains(got, "level=DEBUG") || !strings.Contains(got, "dial 127.0.0.1:1: refused") {
		t.Errorf("logged %q", got)
	}
	RedisLogger{}.Printf(t.Context(), "discarded") // a nil Logger discards
}
