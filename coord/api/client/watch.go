package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxEventLine bounds one line of the event stream.
const maxEventLine = 1 << 20

// Watch streams GET /v1/events and calls fn for every transition, in
// order, until ctx ends (nil), the server ends the stream (nil), fn returns
// an error (that error) or the connection fails. Use an http.Client without
// a Timeout: the stream is long-lived.
func (c *Client) Watch(ctx context.Context, fn func(Transition) error) error {
	resp, err := c.send(ctx, "GET", "/v1/events", nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return readError(resp)
	}
	err = readEvents(resp.Body, fn)
	var ce *callbackError
	switch {
	case errors.As(err, &ce):
		return ce.err
	case err != nil && ctx.Err() != nil:
		return nil // the stream broke because ctx ended
	}
	return err
}

// callbackError carries an error returned by Watch's fn.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }
func (e *callbackError) Unwrap() error { return e.err }

// readEvents parses a text/event-stream and calls fn for each "transition"
// event; other events and comments are skipped. It returns nil at the end
// of the stream.
func readEvents(r io.Reader, fn func(Transition) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxEventLine)
	var event string
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if event == "transition" && data.Len() > 0 {
				var tr Transition
				if err := json.Unmarshal([]byte(data.String()), &tr); err != nil {
					return fmt.Errorf("client: bad event: %w", err)
				}
				if err := fn(tr); err != nil {
					return &callbackError{err}
				}
			}
			event = ""
			data.Reset()
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("client: event stream: %w", err)
	}
	return nil
}
