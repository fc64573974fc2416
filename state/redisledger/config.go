package redisledger

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/proxywhirl/retrycoord/state"
	"github.com/redis/go-redis/v9"
)

// Config tunes a Ledger. Exactly one of Client, Options and URL says where
// Redis is; Table is required; every other zero field means its default.
type Config struct {
	// URL says where Redis is:
	//   redis://[user:password@]host:port[/db]    one server
	//   rediss://...                              one server over TLS
	//   redis+cluster://host:port?addr=host2:port2&addr=...   Redis Cluster
	//   redis+sentinel://host:port?master_name=mymaster&addr=...  Sentinel
	// (rediss+cluster and rediss+sentinel add TLS). Query parameters are
	// go-redis options (dial_timeout=3s, ...). The password never appears in
	// a log line or an error.
	URL string
	// Options builds the client from go-redis universal options instead:
	// several Addrs mean Cluster, a MasterName means Sentinel.
	Options *redis.UniversalOptions
	// Client is an existing client to use instead; the ledger does not close
	// it.
	Client redis.UniversalClient

	// Table is the table the ledger loads into, reconciles from, and
	// subscribes to: it writes the table's local and manual changes, never
	// what came from gossip or the ledger itself (required).
	Table *state.Table
	// Prefix names the ledger's keys (default "retrycoord"). Every key is
	// "{Prefix}:..." so that all of them share one Cluster slot. It must
	// not contain '{' or '}'.
	Prefix string
	// QueueSize bounds the ledger's subscription to the Table: the changes
	// waiting to be written (default 4096). Beyond it changes are dropped
	// and counted, and the reconciler re-asserts the table soon after.
	QueueSize int
	// MaxBatch bounds the records written in one pipeline (default 256).
	MaxBatch int
	// FlushInterval is how long the flusher gathers records after the first
	// before it writes them (default 5ms; negative: write at once).
	FlushInterval time.Duration
	// FlushTimeout bounds each batch write and the final flush on shutdown
	// (default 2s).
	FlushTimeout time.Duration
	// OpenGrace is added to an open record's remaining open time to make its
	// key's TTL, so that a dead origin cannot hold a proxy open in the ledger
	// forever (default 30s). Half-open records get OpenGrace alone; closed
	// records and facts have no TTL.
	OpenGrace time.Duration
	// StreamMaxLen caps the change stream, approximately (XADD MAXLEN ~;
	// default 10000).
	StreamMaxLen int64
	// SnapshotTimeout bounds Snapshot and each reconciliation (default 5s).
	SnapshotTimeout time.Duration
	// ReadBlock is how long one XREAD blocks waiting for entries (default
	// 1s). Shutdown wakes a blocked read at once when Redis is up; when it
	// cannot, it waits for at most about this long.
	ReadBlock time.Duration
	// RetryMax caps the wait between reachability checks while Redis is
	// down (default 1s; the wait starts at 50ms and doubles).
	RetryMax time.Duration
	// Logger receives one Warn when Redis becomes unreachable and one Info
	// when it is back (default: discard).
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	c.Prefix = cmp.Or(c.Prefix, "retrycoord")
	c.QueueSize = cmp.Or(c.QueueSize, 4096)
	c.MaxBatch = cmp.Or(c.MaxBatch, 256)
	c.FlushInterval = cmp.Or(c.FlushInterval, 5*time.Millisecond)
	c.FlushTimeout = cmp.Or(c.FlushTimeout, 2*time.Second)
	c.OpenGrace = cmp.Or(c.OpenGrace, 30*time.Second)
	c.StreamMaxLen = cmp.Or(c.StreamMaxLen, 10000)
	c.SnapshotTimeout = cmp.Or(c.SnapshotTimeout, 5*time.Second)
	c.ReadBlock = cmp.Or(c.ReadBlock, time.Second)
	c.RetryMax = cmp.Or(c.RetryMax, time.Second)
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
}

func (c *Config) validate() error {
	switch {
	case c.Table == nil:
		return errors.New("redisledger: config: Table is required")
	case strings.ContainsAny(c.Prefix, "{}"):
		return errors.New("redisledger: config: Prefix must not contain '{' or '}'")
	case c.QueueSize < 0, c.MaxBatch < 0, c.StreamMaxLen < 0:
		return errors.New("redisledger: config: QueueSize, MaxBatch and StreamMaxLen must not be negative")
	case c.FlushTimeout < 0, c.OpenGrace < 0, c.SnapshotTimeout < 0, c.ReadBlock < 0, c.RetryMax < 0:
		return errors.New("redisledger: config: timeouts must not be negative")
	}
	n := 0
	for _, set := range []bool{c.Client != nil, c.Options != nil, c.URL != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("redisledger: config: set exactly one of URL, Options and Client")
	}
	return nil
}

// newClient builds the client the config describes, and reports whether the
// ledger owns it (and so closes it).
func (c *Config) newClient() (redis.UniversalClient, bool, error) {
	switch {
	case c.Client != nil:
		return c.Client, false, nil
	case c.Options != nil:
		return redis.NewUniversalClient(c.Options), true, nil
	}
	client, err := clientFromURL(c.URL)
	if err != nil {
		return nil, false, err
	}
	return client, true, nil
}

// clientFromURL parses a ledger URL. Its errors never contain the password.
func clientFromURL(raw string) (redis.UniversalClient, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // url.Error repeats the whole URL, password included
		}
		return nil, fmt.Errorf("redisledger: invalid URL: %w", err)
	}
	base, mode, _ := strings.Cut(u.Scheme, "+")
	if base != "redis" && base != "rediss" && base != "unix" || base == "unix" && mode != "" {
		return nil, fmt.Errorf("redisledger: invalid URL: unknown scheme %q", u.Scheme)
	}
	u.Scheme = base
	plain := u.String()
	redact := func(err error) error {
		msg := err.Error()
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
		return fmt.Errorf("redisledger: invalid URL: %s", msg)
	}
	switch mode {
	case "":
		o, err := redis.ParseURL(plain)
		if err != nil {
			return nil, redact(err)
		}
		return redis.NewClient(o), nil
	case "cluster":
		o, err := redis.ParseClusterURL(plain)
		if err != nil {
			return nil, redact(err)
		}
		return redis.NewClusterClient(o), nil
	case "sentinel":
		o, err := redis.ParseFailoverURL(plain)
		if err != nil {
			return nil, redact(err)
		}
		if o.MasterName == "" {
			return nil, errors.New("redisledger: invalid URL: sentinel needs master_name")
		}
		return redis.NewFailoverClient(o), nil
	}
	return nil, fmt.Errorf("redisledger: invalid URL: unknown scheme %q", u.Scheme)
}
