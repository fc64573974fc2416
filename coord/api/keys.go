package api

import (
	"encoding/base64"
	"net/http"
	"strings"
)

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
