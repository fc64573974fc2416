// Package client is a typed Go client of retrycoord's admin HTTP API, and
// the API's JSON forms (wire.go), for thin clients in Go: it imports
// nothing but the standard library, neither the server (package api) nor
// Prometheus.
//
// It does not own the routes or their meaning: package api serves them and
// uses these same types. Every method returns an API error as *Error, whose
// Code is one of the Code constants.
//
// # Concurrency
//
// A Client is safe for concurrent use. Watch holds one long-lived request
// per call: use an http.Client without a Timeout.
//
// # Usage
//
//	cl := client.New("http://127.0.0.1:7947", token, nil)
//	b, err := cl.Trip(ctx, "http://10.0.0.1:3128", 5*time.Minute, "maintenance")
//	var ae *client.Error
//	if errors.As(err, &ae) && ae.Code == client.CodeUnauthorized { ... }
package client
