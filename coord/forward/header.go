package forward

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// hopHeaders are the hop-by-hop fields of RFC 9110 §7.6.1 (plus the
// legacy Proxy-Connection and Keep-Alive), in canonical form.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// removeHop deletes the hop-by-hop fields from h: those that Connection
// lists, then the fixed ones.
func removeHop(h http.Header) {
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = textproto.TrimString(f); f != "" {
				h.Del(f)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// via11 is the Via value of an HTTP/1.1 message that had none.
var via11 = []string{"1.1 retrycoord"}

// addVia appends this proxy to h's Via field for a message of the given
// protocol version.
func addVia(h http.Header, major, minor int) {
	prior := h["Via"]
	if len(prior) == 0 && major == 1 && minor == 1 {
		h["Via"] = via11[:1:1] // shared and never written: an append copies
		return
	}
	v := "1.1 retrycoord"
	if major != 1 || minor != 1 {
		v = strconv.Itoa(major) + "." + strconv.Itoa(minor) + " retrycoord"
	}
	if len(prior) > 0 {
		v = strings.Join(prior, ", ") + ", " + v
	}
	h["Via"] = []string{v}
}

// plain answers with a short text/plain message.
func plain(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg + "\n"))
}

// authenticator checks clients' Basic Proxy-Authorization. It keeps only
// digests of the credentials, compared in constant time.
type authenticator struct {
	user, pass [sha256.Size]byte
}

func newAuthenticator(c Credentials) *authenticator {
	return &authenticator{user: sha256.Sum256([]byte(c.User)), pass: sha256.Sum256([]byte(c.Password))}
}

// ok reports whether the header value carries the right credentials.
func (a *authenticator) ok(header string) bool {
	const prefix = "basic "
	if len(header) < len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header[len(prefix):]))
	if err != nil {
		return false
	}
	user, pass, found := strings.Cut(string(raw), ":")
	if !found {
		return false
	}
	u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	uok := subtle.ConstantTimeCompare(u[:], a.user[:])
	pok := subtle.ConstantTimeCompare(p[:], a.pass[:])
	return uok&pok == 1
}

// basicAuth returns the Proxy-Authorization value for a user and password.
func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}
