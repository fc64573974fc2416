package api

import (
	"encoding/json"
	"net/http"

	"github.com/proxywhirl/retrycoord/coord/api/client"
)

// writeError answers with a JSON error.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, client.ErrorBody{Error: &Error{Status: status, Code: code, Message: msg}})
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"api: cannot encode the answer"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
