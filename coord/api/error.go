package api

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Error codes of the API's JSON errors.
const (
	CodeBadRequest       = "bad_request"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeTooLarge         = "too_large"
	CodeNoUpstream       = "no_upstream"
	CodeNotReady         = "not_ready"
	CodeInternal         = "internal"
)

// Error is an error answered by the API: {"error":{"code","message"}} with
// an HTTP status. The Client returns it as *Error.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error returns the message with its code and status.
func (e *Error) Error() string {
	return e.Message + " (" + e.Code + ", HTTP " + strconv.Itoa(e.Status) + ")"
}

type errorBody struct {
	Error *Error `json:"error"`
}

// writeError answers with a JSON error.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{&Error{Status: status, Code: code, Message: msg}})
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
