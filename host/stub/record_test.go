package stub

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRequestsRing(t *testing.T) {
	s := New(Config{RecordLimit: 3})
	defer s.Close()
	for i := range 5 {
		body := fmt.Sprintf(`{"model":"m%d","messages":[{"role":"user","content":"x"}]}`, i)
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("X-Seq", fmt.Sprint(i))
		s.ServeHTTP(httptest.NewRecorder(), req)
	}

	recs := s.Requests()
	if len(recs) != 3 {
		t.Fatalf("recorded %d requests, want the last 3", len(recs))
	}
	for i, rec := range recs {
		want := fmt.Sprint(i + 2)
		if got := rec.Header.Get("X-Seq"); got != want {
			t.Errorf("record %d X-Seq = %q, want %q (oldest first)", i, got, want)
		}
		if !strings.Contains(string(rec.Body), `"m`+want+`"`) {
			t.Errorf("record %d body = %s, want model m%s", i, rec.Body, want)
		}
		if rec.Method != http.MethodPost || rec.Path != "/v1/chat/completions" || rec.Status != http.StatusOK {
			t.Errorf("record %d = %s %s %d, want POST /v1/chat/completions 200", i, rec.Method, rec.Path, rec.Status)
		}
	}

	// Requests returns copies, so changing them leaves the server's records.
	recs[0].Header.Set("X-Seq", "changed")
	recs[0].Body[0] = 'X'
	again := s.Requests()
	if again[0].Header.Get("X-Seq") != "2" || again[0].Body[0] != '{' {
		t.Errorf("a change to a returned record reached the server: %v %q", again[0].Header, again[0].Body)
	}
	if st := s.Stats(); st.Requests != 5 {
		t.Errorf("Stats.Requests = %d, want 5 (the ring limits records, not counts)", st.Requests)
	}
}

func TestRequestsBodyTruncated(t *testing.T) {
	s := New(Config{MaxBodyBytes: 2 * maxRecordedBody})
	defer s.Close()
	body := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("y", maxRecordedBody) + `"}]}`
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body)))
	if w.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", w.Code)
	}
	rec := s.Requests()[0]
	if !rec.BodyTruncated || len(rec.Body) != maxRecordedBody {
		t.Errorf("BodyTruncated = %v, body length %d; want true, %d", rec.BodyTruncated, len(rec.Body), maxRecordedBody)
	}
}

func TestStatsCopy(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/models", nil))
	st := s.Stats()
	st.ByStatus[http.StatusOK] = 100
	if got := s.Stats().ByStatus[http.StatusOK]; got != 1 {
		t.Errorf("ByStatus[200] = %d after changing a copy, want 1", got)
	}
}

func TestRedactHeader(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"Bearer sk-secret", "Bearer [REDACTED]"},
		{"Basic dXNlcjpwYXNz", "Basic [REDACTED]"},
		{"sk-secret", "[REDACTED]"},
	}
	for _, tt := range tests {
		h := http.Header{"Authorization": {tt.in}, "X-Other": {"kept"}}
		got := redactHeader(h)
		if g := got.Get("Authorization"); g != tt.want {
			t.Errorf("redactHeader(%q) = %q, want %q", tt.in, g, tt.want)
		}
		if got.Get("X-Other") != "kept" {
			t.Errorf("redactHeader(%q) dropped X-Other", tt.in)
		}
		if h.Get("Authorization") != tt.in {
			t.Errorf("redactHeader(%q) changed its input", tt.in)
		}
	}
}
