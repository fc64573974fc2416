package cluster

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/memberlist"
	"github.com/proxywhirl/retrycoord/internal/logkey"
)

// Errors of the keyring methods. None of them, nor any other error of this
// package, contains a key.
var (
	// ErrNoKeyring: the node was started without keys, so its gossip is
	// not encrypted and it has no keyring to change (restart it with keys).
	ErrNoKeyring = errors.New("cluster: gossip encryption is off: start the node with keys to manage its keyring")
	// ErrKeyNotInstalled: the key given to UseKey or RemoveKey is not in
	// the keyring.
	ErrKeyNotInstalled = errors.New("cluster: the key is not installed")
	// ErrRemovePrimary: the key given to RemoveKey encrypts this node's
	// traffic; make another key primary with UseKey first.
	ErrRemovePrimary = errors.New("cluster: the primary key cannot be removed: use another key first")
)

// KeyInfo describes an installed gossip key without revealing it.
type KeyInfo struct {
	// Fingerprint is the first 8 hex digits of the SHA-256 of the raw key.
	Fingerprint string
	// Primary is true for the key that encrypts; every key decrypts.
	Primary bool
}

// Fingerprint returns the fingerprint of a base64 gossip key, as Keys
// lists it, so that an operator can tell which key is which without
// printing it.
func Fingerprint(key string) (string, error) {
	raw, err := decodeKey(key)
	if err != nil {
		return "", err
	}
	return fingerprint(raw), nil
}

func fingerprint(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:4])
}

// decodeKey parses a base64 AES key of 16, 24 or 32 bytes. Surrounding
// white space (a key piped from a file) is ignored. The error never
// contains the key.
func decodeKey(key string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(key))
	if err != nil {
		return nil, errors.New("cluster: the key is not valid base64")
	}
	switch len(raw) {
	case 16, 24, 32:
		return raw, nil
	}
	return nil, fmt.Errorf("cluster: the key is %d bytes, want 16, 24 or 32", len(raw))
}

// keyManager serializes the changes to a node's memberlist keyring, which
// memberlist reads live on every packet.
type keyManager struct {
	mu   sync.Mutex          // guards changes to ring
	ring *memberlist.Keyring // nil: encryption off
}

// Keys lists the node's gossip keys, primary first, as fingerprints. It
// returns ErrNoKeyring when the node runs unencrypted. It is safe for
// concurrent use.
func (n *Node) Keys() ([]KeyInfo, error) {
	km := &n.keys
	if km.ring == nil {
		return nil, ErrNoKeyring
	}
	km.mu.Lock()
	defer km.mu.Unlock()
	keys := km.ring.GetKeys()
	out := make([]KeyInfo, len(keys))
	for i, k := range keys {
		out[i] = KeyInfo{Fingerprint: fingerprint(k), Primary: i == 0}
	}
	return out, nil
}

// InstallKey adds a base64 key to the node's keyring: from now on the node
// decrypts traffic encrypted with it, but still encrypts with its primary
// key. Installing an installed key does nothing.
//
// Rotating a fleet's key takes three rounds, each on every node before the
// next starts (as serf's `keys` command does): InstallKey(new), then
// UseKey(new), then RemoveKey(old). A node that misses a round cannot talk
// to the others until it catches up.
func (n *Node) InstallKey(key string) error {
	km := &n.keys
	raw, err := km.decode(key)
	if err != nil {
		return err
	}
	km.mu.Lock()
	err = km.ring.AddKey(raw)
	km.mu.Unlock()
	if err != nil {
		return errors.New("cluster: the keyring refused the key")
	}
	n.log.Info("gossip key installed", logkey.Key, fingerprint(raw))
	return nil
}

// UseKey makes an installed base64 key the primary one, which encrypts
// everything the node sends from now on. It returns ErrKeyNotInstalled for
// a key that is not installed.
func (n *Node) UseKey(key string) error {
	km := &n.keys
	raw, err := km.decode(key)
	if err != nil {
		return err
	}
	km.mu.Lock()
	err = km.ring.UseKey(raw)
	km.mu.Unlock()
	if err != nil {
		return ErrKeyNotInstalled
	}
	n.log.Info("gossip key in use", logkey.Key, fingerprint(raw))
	return nil
}

// RemoveKey takes a base64 key off the node's keyring: traffic encrypted
// with it is refused from now on. It returns ErrRemovePrimary for the
// primary key and ErrKeyNotInstalled for a key that is not installed.
func (n *Node) RemoveKey(key string) error {
	km := &n.keys
	raw, err := km.decode(key)
	if err != nil {
		return err
	}
	km.mu.Lock()
	err = km.removeLocked(raw)
	km.mu.Unlock()
	if err != nil {
		return err
	}
	n.log.Info("gossip key removed", logkey.Key, fingerprint(raw))
	return nil
}

// removeLocked removes raw from the ring. memberlist's RemoveKey shifts
// the keys after the removed one down inside the very slice that
// concurrent decryptions are iterating (a data race); removing the last
// key writes nothing into it. So the keys after raw come off first, last
// to first, then raw, and they are added back in order (AddKey appends
// past the end that readers see). Packets encrypted with one of those
// later keys that arrive within these few microseconds are dropped, as
// lost packets are.
func (km *keyManager) removeLocked(raw []byte) error {
	keys := km.ring.GetKeys()
	i := slices.IndexFunc(keys, func(k []byte) bool { return bytes.Equal(k, raw) })
	switch {
	case i < 0:
		return ErrKeyNotInstalled
	case i == 0:
		return ErrRemovePrimary
	}
	tail := make([][]byte, 0, len(keys)-i-1)
	for _, k := range keys[i+1:] {
		tail = append(tail, slices.Clone(k))
	}
	for j := len(keys) - 1; j > i; j-- {
		if err := km.ring.RemoveKey(keys[j]); err != nil {
			return errors.New("cluster: the keyring refused the removal")
		}
	}
	if err := km.ring.RemoveKey(keys[i]); err != nil {
		return errors.New("cluster: the keyring refused the removal")
	}
	for _, k := range tail {
		if err := km.ring.AddKey(k); err != nil {
			return errors.New("cluster: the keyring refused a key back")
		}
	}
	return nil
}

// decode checks that the node has a keyring and decodes a base64 key.
func (km *keyManager) decode(key string) ([]byte, error) {
	if km.ring == nil {
		return nil, ErrNoKeyring
	}
	return decodeKey(key)
}
