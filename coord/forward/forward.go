package forward

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// forward sends an absolute-form request through the coordinator's
// Transport and streams the answer back.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request) {
	if r.URL.Scheme != "http" && r.URL.Scheme != "https" {
		p.bad.Add(1)
		plain(w, http.StatusBadRequest, "retrycoord: unsupported scheme "+strconv.Quote(r.URL.Scheme)+" (want http or https)")
		return
	}
	// A shallow copy with a header of its own: the URL and the rest are
	// only read on the way out (r.Clone would copy them too, seven
	// allocations a request more).
	out := r.WithContext(r.Context())
	out.Header = r.Header.Clone()
	out.RequestURI = ""
	out.Close = false
	out.Trailer = nil
	removeHop(out.Header)
	addVia(out.Header, r.ProtoMajor, r.ProtoMinor)
	if r.ContentLength == 0 {
		out.Body = http.NoBody
	}
	resp, err := p.rt.RoundTrip(out)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.relay(w, r, resp)
}

// relay writes resp to the client: its header without hop-by-hop fields
// and with our Via, its body (flushed as it comes for event streams and
// bodies of unknown length), and its trailers. A body the upstream cuts
// short drops the client's connection (http.ErrAbortHandler), so that the
// client cannot take the truncated body for a whole one; a client that
// went away is counted as canceled. Both forward and intercepted requests
// end here.
func (p *Proxy) relay(w http.ResponseWriter, r *http.Request, resp *http.Response) {
	defer resp.Body.Close()
	removeHop(resp.Header)
	addVia(resp.Header, resp.ProtoMajor, resp.ProtoMinor)
	h := w.Header()
	for k, vs := range resp.Header {
		h[k] = vs
	}
	if len(resp.Trailer) > 0 {
		keys := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h["Trailer"] = []string{strings.Join(keys, ", ")}
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method == http.MethodHead {
		return
	}
	if err := copyBody(w, resp, streaming(resp)); err != nil {
		if errors.Is(err, errClientWrite) {
			p.canceled.Add(1)
			return
		}
		panic(http.ErrAbortHandler)
	}
	for k, vs := range resp.Trailer {
		h[http.TrailerPrefix+k] = vs
	}
}

// streaming says whether every chunk of resp's body should be flushed to
// the client at once: event streams and bodies of unknown length.
func streaming(resp *http.Response) bool {
	if resp.ContentLength == -1 {
		return true
	}
	return isEventStream(resp.Header.Get("Content-Type"))
}

// isEventStream reports whether a Content-Type value is text/event-stream,
// with or without parameters, in any case, without parsing (and allocating
// for) the parameters as mime.ParseMediaType would.
func isEventStream(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.EqualFold(strings.TrimSpace(ct), "text/event-stream")
}

var errClientWrite = errors.New("forward: writing to the client")

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyBody copies resp's body to w, flushing after every read when flush
// is set. It returns errClientWrite when the client side failed.
func copyBody(w http.ResponseWriter, resp *http.Response, flush bool) error {
	var rc *http.ResponseController // made for the first flush: most bodies are not flushed
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return errClientWrite
			}
			if flush {
				if rc == nil {
					rc = http.NewResponseController(w)
				}
				if ferr := rc.Flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
					return errClientWrite
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}
