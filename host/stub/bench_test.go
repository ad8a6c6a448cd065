package stub

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func BenchmarkServeCompletion(b *testing.B) {
	s := New(Config{})
	defer s.Close()
	body := []byte(validBody)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(body)))
		if w.Code != http.StatusOK {
			b.Fatalf("status = %d", w.Code)
		}
	}
}

func BenchmarkDecodeChatRequest(b *testing.B) {
	body := []byte(`{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"` +
		strings.Repeat("word ", 200) + `"}]}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, bad := decodeChatRequest(body); bad != nil {
			b.Fatal(bad)
		}
	}
}

// BenchmarkLoopbackCompletion measures one request over a loopback TCP
// connection, kept alive between requests.
func BenchmarkLoopbackCompletion(b *testing.B) {
	s := New(Config{})
	defer s.Close()
	url, err := s.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	body := []byte(validBody)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Post(url+"/v1/chat/completions", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status = %d", resp.StatusCode)
		}
	}
}
