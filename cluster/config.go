package cluster

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/proxywhirl/retrycoord/state"
)

// Config tunes a Node. Table is required; every other zero field means the
// documented default.
type Config struct {
	// Table is the table the node subscribes to, sends out the local and
	// manual changes of, and merges the fleet's records into (required).
	// The node installs its probe-owner hook on it while started.
	Table *state.Table
	// Name is the memberlist node name. It must equal Table.Node(), which is
	// also the default.
	Name string
	// BindAddr and BindPort are where memberlist listens (UDP and TCP).
	// Defaults: 127.0.0.1 and port 0 (a free port, see Node.Addr).
	BindAddr string
	BindPort int
	// AdvertiseAddr and AdvertisePort are what other nodes dial (default:
	// the bound address and port).
	AdvertiseAddr string
	AdvertisePort int
	// Seeds are "host:port" addresses joined by Join and re-joined every
	// RejoinInterval. With none, Ready is closed at once.
	Seeds []string
	// Keys are base64 AES keys of 16, 24 or 32 bytes; the first encrypts,
	// all decrypt. With keys, unencrypted traffic is refused both ways.
	// Keys never appear in logs or errors.
	Keys []string
	// Label is the cluster label; nodes with different labels never merge
	// (default: none).
	Label string
	// GossipInterval is memberlist's gossip period (default: from Base).
	GossipInterval time.Duration
	// PushPullInterval is the anti-entropy period (default 10s).
	PushPullInterval time.Duration
	// RejoinInterval is how often the seeds, and the members lost within
	// the last hour, are joined again while they are not alive members
	// (default 1s). A join exchanges full state, so a healed
	// partition converges within about one interval: memberlist itself
	// never contacts a member again once it declared it dead. Each attempt
	// is a ping first (a gone node costs one ProbeTimeout), then a join;
	// each address has at most one attempt under way. While every seed is
	// an alive member, nothing is sent.
	RejoinInterval time.Duration
	// EvidenceInterval is how often this node's failure counts are sent
	// when something failed (default 20ms).
	EvidenceInterval time.Duration
	// PoisonRatio and PoisonMinUpstreams make up the poison guard: when at
	// least PoisonMinUpstreams upstreams and at least PoisonRatio of the
	// active ones fail on this node at once, the node suspects its own
	// network (defaults 0.5 and 3; a negative PoisonMinUpstreams turns the
	// guard off).
	PoisonRatio        float64
	PoisonMinUpstreams int
	// ConfirmTrips adopts a remote trip only once this many distinct nodes
	// reported the upstream open (default 1: at once).
	ConfirmTrips int
	// DisableFanout switches direct fan-out off, leaving gossip and
	// anti-entropy (for comparison benchmarks).
	DisableFanout bool
	// QueueSize bounds the node's subscription to the Table (its one
	// outbound queue) and the inbound message queue (default 4096 each);
	// beyond it transitions and messages are dropped and counted.
	QueueSize int
	// Logger receives the node's and memberlist's logs (default: discard).
	Logger *slog.Logger
	// Transport replaces the node's own UDP/TCP transport (tests). The
	// default listens on BindAddr:BindPort like memberlist's, but copies
	// each received packet at its length instead of allocating 64 KiB.
	Transport memberlist.Transport
	// Base is the memberlist configuration to start from (default
	// memberlist.DefaultLANConfig() with compression off). The fields above and the delegates
	// are always set on a copy of it.
	Base *memberlist.Config
}

// Defaults.
const (
	DefaultPushPullInterval = 10 * time.Second
	DefaultRejoinInterval   = time.Second
	DefaultEvidenceInterval = 20 * time.Millisecond
	DefaultQueueSize        = 4096
)

func (c Config) withDefaults() Config {
	if c.Table != nil {
		c.Name = cmp.Or(c.Name, c.Table.Node())
	}
	c.BindAddr = cmp.Or(c.BindAddr, "127.0.0.1")
	c.PushPullInterval = cmp.Or(c.PushPullInterval, DefaultPushPullInterval)
	c.RejoinInterval = cmp.Or(c.RejoinInterval, DefaultRejoinInterval)
	c.EvidenceInterval = cmp.Or(c.EvidenceInterval, DefaultEvidenceInterval)
	c.PoisonRatio = cmp.Or(c.PoisonRatio, 0.5)
	c.PoisonMinUpstreams = cmp.Or(c.PoisonMinUpstreams, 3)
	c.ConfirmTrips = max(1, c.ConfirmTrips)
	c.QueueSize = cmp.Or(c.QueueSize, DefaultQueueSize)
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	return c
}

func (c Config) validate() error {
	switch {
	case c.Table == nil:
		return errors.New("cluster: config: Table is required")
	case c.Name != c.Table.Node():
		return fmt.Errorf("cluster: config: name %q differs from the table's node %q", c.Name, c.Table.Node())
	case c.PoisonRatio <= 0 || c.PoisonRatio > 1:
		return errors.New("cluster: config: PoisonRatio must be in (0, 1]")
	case c.PushPullInterval < 0 || c.RejoinInterval < 0 || c.EvidenceInterval < 0 || c.GossipInterval < 0:
		return errors.New("cluster: config: intervals must not be negative")
	case c.QueueSize < 1:
		return errors.New("cluster: config: QueueSize must be positive")
	}
	return nil
}

// keyring builds a memberlist keyring from base64 keys; nil for none. The
// error never contains a key.
func keyring(keys []string) (*memberlist.Keyring, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	raw := make([][]byte, 0, len(keys))
	for i, k := range keys {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil {
			return nil, fmt.Errorf("cluster: config: key %d is not valid base64", i+1)
		}
		switch len(b) {
		case 16, 24, 32:
		default:
			return nil, fmt.Errorf("cluster: config: key %d is %d bytes, want 16, 24 or 32", i+1, len(b))
		}
		raw = append(raw, b)
	}
	kr, err := memberlist.NewKeyring(raw, raw[0])
	if err != nil {
		return nil, errors.New("cluster: config: invalid keyring")
	}
	return kr, nil
}
