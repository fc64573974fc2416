package client

import (
	"errors"
	"strings"
	"testing"
)

func TestReadEvents(t *testing.T) {
	stream := ": subscribed\n\n" +
		"event: transition\ndata: {\"kind\":\"breaker\",\"upstream\":\"http://a:1\",\"to\":\"open\"}\n\n" +
		": heartbeat\n\n" +
		"event: other\ndata: {}\n\n" +
		"event: transition\ndata: {\"kind\":\"pool\",\ndata: \"upstream\":\"http://b:2\"}\n\n"
	var got []string
	err := readEvents(strings.NewReader(stream), func(tr Transition) error {
		got = append(got, tr.Kind+" "+tr.Upstream)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "breaker http://a:1|pool http://b:2"; strings.Join(got, "|") != want {
		t.Errorf("got %q, want %q", strings.Join(got, "|"), want)
	}
	stop := errors.New("stop")
	err = readEvents(strings.NewReader(stream), func(Transition) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("fn's error = %v, want stop", err)
	}
	if err := readEvents(strings.NewReader("event: transition\ndata: {nope\n\n"), func(Transition) error { return nil }); err == nil {
		t.Error("a bad event was accepted")
	}
}

func FuzzReadEvents(f *testing.F) {
	f.Add("event: transition\ndata: {\"kind\":\"breaker\"}\n\n")
	f.Add(": c\n\nevent:transition\ndata:{}\n\n")
	f.Add("data: x\n\n\n")
	f.Fuzz(func(t *testing.T, s string) {
		_ = readEvents(strings.NewReader(s), func(Transition) error { return nil })
	})
}
