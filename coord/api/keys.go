package api

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
)

// CodeConflict is the error code of a key change the keyring refused
// (removing the primary key, using a key that is not installed, or a node
// without encryption).
const CodeConflict = "conflict"

// Keyring manages this node's gossip encryption keys. cluster.Node
// implements it through a small adapter in the agent; the api package does
// not import cluster. Keys are base64 strings; Keys lists fingerprints,
// never the keys, and no error may contain a key.
type Keyring interface {
	Keys() ([]Key, error)
	InstallKey(key string) error
	UseKey(key string) error
	RemoveKey(key string) error
}

// Key is one installed gossip key as GET /v1/keys lists it.
type Key struct {
	// Fingerprint identifies the key without revealing it: the first 8
	// hex digits of the SHA-256 of the raw key.
	Fingerprint string `json:"fingerprint"`
	// Primary is true for the key this node encrypts with.
	Primary bool `json:"primary"`
}

// KeyRequest is the body of POST /v1/keys, POST /v1/keys/use and
// DELETE /v1/keys: a base64 key of 16, 24 or 32 bytes.
type KeyRequest struct {
	Key string `json:"key"`
}

// keyring answers 404 when the node has no keyring; otherwise it returns
// it.
func (h *Handler) keyring(w http.ResponseWriter) (Keyring, bool) {
	if h.cfg.Keyring == nil {
		writeError(w, http.StatusNotFound, CodeNotFound, "api: this node has no gossip keyring")
		return nil, false
	}
	return h.cfg.Keyring, true
}

func (h *Handler) listKeys(w http.ResponseWriter, _ *http.Request) {
	kr, ok := h.keyring(w)
	if !ok {
		return
	}
	h.writeKeys(w, kr)
}

func (h *Handler) writeKeys(w http.ResponseWriter, kr Keyring) {
	keys, err := kr.Keys()
	if err != nil {
		writeError(w, http.StatusConflict, CodeConflict, err.Error())
		return
	}
	if keys == nil {
		keys = []Key{}
	}
	writeJSON(w, http.StatusOK, keys)
}

// keyChange serves the three writes: it decodes the key, applies change
// and answers the keyring as it is now. The key is never logged.
func (h *Handler) keyChange(what string, change func(Keyring, string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		kr, ok := h.keyring(w)
		if !ok {
			return
		}
		var req KeyRequest
		if !decode(w, r, &req) {
			return
		}
		if !validKey(req.Key) {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "api: key must be base64 of 16, 24 or 32 bytes")
			return
		}
		if err := change(kr, req.Key); err != nil {
			writeError(w, http.StatusConflict, CodeConflict, err.Error())
			return
		}
		h.logger.Info("gossip key "+what+" through the API", "remote", r.RemoteAddr)
		h.writeKeys(w, kr)
	}
}

// validKey reports whether key is base64 of an AES key's length.
func validKey(key string) bool {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(key))
	return err == nil && (len(raw) == 16 || len(raw) == 24 || len(raw) == 32)
}

func (h *Handler) installKey() http.HandlerFunc {
	return h.keyChange("installed", Keyring.InstallKey)
}

func (h *Handler) useKey() http.HandlerFunc { return h.keyChange("put in use", Keyring.UseKey) }

func (h *Handler) removeKey() http.HandlerFunc {
	return h.keyChange("removed", Keyring.RemoveKey)
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
