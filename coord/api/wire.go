package api

import (
	"net/http"

	"github.com/proxywhirl/retrycoord/coord/api/client"
)

// The API's JSON forms live in package client, which a thin Go client
// imports without this server; these aliases keep their names here.
type (
	Health            = client.Health
	Readiness         = client.Readiness
	Member            = client.Member
	Breaker           = client.Breaker
	BreakerQuery      = client.BreakerQuery
	TripRequest       = client.TripRequest
	Upstream          = client.Upstream
	AddRequest        = client.AddRequest
	PoolUpdateRequest = client.PoolUpdateRequest
	PoolUpdate        = client.PoolUpdate
	SelectRequest     = client.SelectRequest
	Selection         = client.Selection
	ReportRequest     = client.ReportRequest
	ReportResult      = client.ReportResult
	HourStats         = client.HourStats
	Summary           = client.Summary
	ProxyStats        = client.ProxyStats
	Event             = client.Event
	Transition        = client.Transition
	Key               = client.Key
	KeyRequest        = client.KeyRequest
	Error             = client.Error
	Client            = client.Client
)

// Error codes of the API's JSON errors (see package client).
const (
	CodeBadRequest       = client.CodeBadRequest
	CodeUnauthorized     = client.CodeUnauthorized
	CodeForbidden        = client.CodeForbidden
	CodeNotFound         = client.CodeNotFound
	CodeMethodNotAllowed = client.CodeMethodNotAllowed
	CodeTooLarge         = client.CodeTooLarge
	CodeNoUpstream       = client.CodeNoUpstream
	CodeNotReady         = client.CodeNotReady
	CodeInternal         = client.CodeInternal
	CodeConflict         = client.CodeConflict
)

// NewClient returns a client of the API at baseURL: client.New.
func NewClient(baseURL, token string, httpClient *http.Client) *Client {
	return client.New(baseURL, token, httpClient)
}
