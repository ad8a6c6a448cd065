package egress

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

func BenchmarkCheckTarget(b *testing.B) {
	pol, err := compile(Policy{Name: "b", Allow: []string{"https://api.openai.com"}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, e := checkTarget(pol, "https://api.openai.com/v1/chat/completions", nil); e != nil {
			b.Fatal(e)
		}
	}
}

func BenchmarkDoLoopback(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	cp := New(Options{})
	defer cp.Close()
	pol := loopbackPolicy()
	pol.RatePerSecond, pol.Burst = 1e9, 1e9
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cp.Do(context.Background(), pol, Request{URL: srv.URL}); err != nil {
			b.Fatal(err)
		}
	}
}
