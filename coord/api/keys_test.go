package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeKeyring is a Keyring over a list of keys, primary first, with the
// cluster package's rules.
type fakeKeyring struct {
	mu   sync.Mutex
	keys []string
}

func fakeFingerprint(k string) string {
	raw, _ := base64.StdEncoding.DecodeString(k)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:4])
}

func (f *fakeKeyring) Keys() ([]Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Key
	for i, k := range f.keys {
		out = append(out, Key{Fingerprint: fakeFingerprint(k), Primary: i == 0})
	}
	return out, nil
}

func (f *fakeKeyring) InstallKey(k string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Contains(f.keys, k) {
		f.keys = append(f.keys, k)
	}
	return nil
}

func (f *fakeKeyring) UseKey(k string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.Index(f.keys, k)
	if i < 0 {
		return errors.New("cluster: the key is not installed")
	}
	f.keys = append([]string{k}, slices.Delete(f.keys, i, i+1)...)
	return nil
}

func (f *fakeKeyring) RemoveKey(k string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.Index(f.keys, k)
	switch {
	case i < 0:
		return errors.New("cluster: the key is not installed")
	case i == 0:
		return errors.New("cluster: the primary key cannot be removed: use another key first")
	}
	f.keys = slices.Delete(f.keys, i, i+1)
	return nil
}

var (
	gossipKeyA = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	gossipKeyB = base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210"))
)

func TestKeysRoutes(t *testing.T) {
	f := newFixture(t, Config{Keyring: &fakeKeyring{keys: []string{gossipKeyA}}})
	ctx := context.Background()
	fa, fb := fakeFingerprint(gossipKeyA), fakeFingerprint(gossipKeyB)

	// Every keys route needs the token, the list included.
	for _, rt := range []struct{ method, path, body string }{
		{"GET", "/v1/keys", ""},
		{"POST", "/v1/keys", `{"key":"` + gossipKeyB + `"}`},
		{"POST", "/v1/keys/use", `{"key":"` + gossipKeyB + `"}`},
		{"DELETE", "/v1/keys", `{"key":"` + gossipKeyA + `"}`},
	} {
		if status, body, _ := f.call(t, rt.method, rt.path, rt.body, ""); status != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d %s, want 401", rt.method, rt.path, status, body)
		}
	}

	steps := []struct {
		name string
		fn   func() ([]Key, error)
		want []Key
	}{
		{"list", func() ([]Key, error) { return f.cl.Keys(ctx) }, []Key{{Fingerprint: fa, Primary: true}}},
		{"install B", func() ([]Key, error) { return f.cl.InstallKey(ctx, gossipKeyB) }, []Key{{Fingerprint: fa, Primary: true}, {Fingerprint: fb}}},
		{"use B", func() ([]Key, error) { return f.cl.UseKey(ctx, gossipKeyB) }, []Key{{Fingerprint: fb, Primary: true}, {Fingerprint: fa}}},
		{"remove A", func() ([]Key, error) { return f.cl.RemoveKey(ctx, gossipKeyA) }, []Key{{Fingerprint: fb, Primary: true}}},
	}
	for _, s := range steps {
		got, err := s.fn()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", s.name, diff)
		}
	}

	for _, tc := range []struct {
		name   string
		fn     func() ([]Key, error)
		status int
		code   string
	}{
		{"remove the primary", func() ([]Key, error) { return f.cl.RemoveKey(ctx, gossipKeyB) }, 409, CodeConflict},
		{"use an unknown key", func() ([]Key, error) { return f.cl.UseKey(ctx, gossipKeyA) }, 409, CodeConflict},
		{"not base64", func() ([]Key, error) { return f.cl.InstallKey(ctx, "not base64!") }, 400, CodeBadRequest},
		{"wrong length", func() ([]Key, error) { return f.cl.InstallKey(ctx, "c2hvcnQ=") }, 400, CodeBadRequest},
		{"empty", func() ([]Key, error) { return f.cl.InstallKey(ctx, "") }, 400, CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.fn()
			var ae *Error
			if !errors.As(err, &ae) || ae.Status != tc.status || ae.Code != tc.code {
				t.Fatalf("err = %v, want %d %s", err, tc.status, tc.code)
			}
			if strings.Contains(ae.Message, gossipKeyA) || strings.Contains(ae.Message, gossipKeyB) {
				t.Errorf("the error %q contains a key", ae.Message)
			}
		})
	}
	if status, body, _ := f.call(t, "POST", "/v1/keys", `{"key":"`+gossipKeyA+`","extra":1}`, testToken); status != 400 {
		t.Errorf("unknown field: %d %s, want 400", status, body)
	}
}

func TestKeysWithoutKeyring(t *testing.T) {
	f := newFixture(t, Config{})
	_, err := f.cl.Keys(context.Background())
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Fatalf("err = %v, want 404", err)
	}
}
