package coord

import (
	"errors"
	"io"
	"testing"
)

func TestSendTraceNotSent(t *testing.T) {
	closedIdle := errors.New("http: server closed idle connection")
	tests := []struct {
		name                    string
		gotConn, reused, header bool
		err                     error
		notSent, stale          bool
	}{
		{"no connection (refused, TLS to the proxy)", false, false, false, errors.New("proxyconnect tcp: refused"), true, false},
		{"new connection, header not written", true, false, false, io.ErrUnexpectedEOF, true, false},
		{"reused, header not written", true, true, false, io.EOF, true, true},
		{"reused, closed while idle", true, true, true, closedIdle, true, true},
		{"reused, written, then EOF", true, true, true, io.EOF, false, false},
		{"new connection, written, then EOF", true, false, true, io.EOF, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s sendTrace
			s.gotConn.Store(tt.gotConn)
			s.reused.Store(tt.reused)
			s.wroteHeaders.Store(tt.header)
			if got := s.notSent(tt.err); got != tt.notSent {
				t.Errorf("notSent = %v, want %v", got, tt.notSent)
			}
			if got := s.stale(tt.err); got != tt.stale {
				t.Errorf("stale = %v, want %v", got, tt.stale)
			}
		})
	}
}

func TestNotSent(t *testing.T) {
	base := errors.New("dial tcp: connection refused")
	err := NotSent(base)
	if !errors.Is(err, ErrNotSent) || !errors.Is(err, base) || err.Error() != base.Error() {
		t.Errorf("NotSent(%v) = %v: want it to wrap both and read the same", base, err)
	}
	if NotSent(nil) != nil {
		t.Error("NotSent(nil) != nil")
	}
}
