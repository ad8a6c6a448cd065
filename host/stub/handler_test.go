package stub

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

const validBody = `{"model":"gpt-test","messages":[{"role":"user","content":"hello"}]}`

type wireError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

type wireCompletion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

func TestCompletionReply(t *testing.T) {
	long := strings.Repeat("ä", 100)
	tests := []struct {
		name       string
		body       string
		wantReply  string
		wantPrompt int
	}{
		{
			name:       "string content",
			body:       validBody,
			wantReply:  "stub reply to: hello",
			wantPrompt: 2,
		},
		{
			name: "last user message",
			body: `{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"first"},` +
				`{"role":"assistant","content":null},{"role":"user","content":"second"},{"role":"assistant","content":"ok"}]}`,
			wantReply:  "stub reply to: second",
			wantPrompt: 2 + 2 + 0 + 2 + 1,
		},
		{
			name: "content parts",
			body: `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"look"},` +
				`{"type":"image_url","image_url":{"url":"data:"}},{"type":"text","text":"here"}]}]}`,
			wantReply:  "stub reply to: look here",
			wantPrompt: 3,
		},
		{
			name:       "quote cut at 80 characters",
			body:       `{"model":"m","messages":[{"role":"user","content":"` + long + `"}]}`,
			wantReply:  "stub reply to: " + strings.Repeat("ä", 80),
			wantPrompt: 25,
		},
		{
			name:       "line breaks become spaces",
			body:       `{"model":"m","messages":[{"role":"user","content":"a\nb\r\nc"}]}`,
			wantReply:  "stub reply to: a b  c",
			wantPrompt: 2,
		},
		{
			name:       "no user message",
			body:       `{"model":"m","messages":[{"role":"system","content":"hi"}]}`,
			wantReply:  "stub reply to: (no user message)",
			wantPrompt: 1,
		},
		{
			name:       "unknown fields ignored",
			body:       `{"model":"m","temperature":0.2,"tools":[],"stream":false,"messages":[{"role":"user","content":"x","name":"n"}]}`,
			wantReply:  "stub reply to: x",
			wantPrompt: 1,
		},
	}
	s, url, _ := startStub(t, Config{})
	c := newClient(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, c, http.MethodPost, url+"/v1/chat/completions", "", []byte(tt.body))
			if resp.status != http.StatusOK {
				t.Fatalf("status = %d, want 200 (body %s)", resp.status, resp.body)
			}
			if ct := resp.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			got := decodeJSON[wireCompletion](t, resp.body)
			if len(got.Choices) != 1 {
				t.Fatalf("choices = %d, want 1", len(got.Choices))
			}
			if c := got.Choices[0]; c.Message.Content != tt.wantReply || c.Message.Role != "assistant" || c.FinishReason != "stop" || c.Index != 0 {
				t.Errorf("choice = %+v, want assistant %q, finish stop, index 0", c, tt.wantReply)
			}
			wantID := "chatcmpl-stub-" + string(rune('1'+i))
			if got.ID != wantID || got.Object != "chat.completion" || got.Created != testStart.Unix() {
				t.Errorf("id, object, created = %q, %q, %d; want %q, chat.completion, %d",
					got.ID, got.Object, got.Created, wantID, testStart.Unix())
			}
			wantCompletion := (len([]rune(tt.wantReply)) + 3) / 4
			if u := got.Usage; u.PromptTokens != tt.wantPrompt || u.CompletionTokens != wantCompletion || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
				t.Errorf("usage = %+v, want prompt %d, completion %d and their sum", u, tt.wantPrompt, wantCompletion)
			}
		})
	}
	if got := decodeJSON[wireCompletion](t, do(t, c, http.MethodPost, url+"/v1/chat/completions", "", []byte(validBody)).body).Model; got != "gpt-test" {
		t.Errorf("model = %q, want the requested gpt-test", got)
	}
	if got := s.Stats().ByStatus[http.StatusOK]; got != int64(len(tests)+1) {
		t.Errorf("ByStatus[200] = %d, want %d", got, len(tests)+1)
	}
}

func TestCompletionBadRequest(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantParam string // "" means null
		wantText  string
	}{
		{"empty body", ``, "", "not valid JSON"},
		{"syntax error", `{"model": "m",`, "", "not valid JSON at byte offset"},
		{"trailing data", validBody + `x`, "", "not valid JSON"},
		{"array body", `[1]`, "", "must be a JSON object, not array"},
		{"missing model", `{"messages":[{"role":"user","content":"x"}]}`, "model", "missing"},
		{"null model", `{"model":null,"messages":[{"role":"user","content":"x"}]}`, "model", "missing"},
		{"number model", `{"model":4,"messages":[{"role":"user","content":"x"}]}`, "model", "must be a string"},
		{"blank model", `{"model":" ","messages":[{"role":"user","content":"x"}]}`, "model", "is empty"},
		{"missing messages", `{"model":"m"}`, "messages", "missing"},
		{"object messages", `{"model":"m","messages":{}}`, "messages", "must be an array"},
		{"empty messages", `{"model":"m","messages":[]}`, "messages", "is empty"},
		{"message not object", `{"model":"m","messages":["hi"]}`, "messages[0]", "must be an object"},
		{"missing role", `{"model":"m","messages":[{"content":"x"}]}`, "messages[0].role", "missing"},
		{"number role", `{"model":"m","messages":[{"role":1,"content":"x"}]}`, "messages[0].role", "must be a string"},
		{"unknown role", `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, "messages[0].role", `"robot" is not a role`},
		{"number content", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"user","content":5}]}`, "messages[1].content", "must be a string or an array"},
		{"object content", `{"model":"m","messages":[{"role":"user","content":{}}]}`, "messages[0].content", "must be a string or an array"},
		{"part not object", `{"model":"m","messages":[{"role":"user","content":[3]}]}`, "messages[0].content", "content parts"},
		{"part without type", `{"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]}`, "messages[0].content[0].type", "missing"},
		{"text part without text", `{"model":"m","messages":[{"role":"user","content":[{"type":"text"},{"type":"text","text":"y"}]}]}`, "messages[0].content[0].text", "missing"},
		{"stream true", `{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`, "stream", "not supported"},
		{"stream string", `{"model":"m","stream":"yes","messages":[{"role":"user","content":"x"}]}`, "stream", "must be a boolean"},
	}
	s, url, _ := startStub(t, Config{})
	c := newClient(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, c, http.MethodPost, url+"/v1/chat/completions", "", []byte(tt.body))
			if resp.status != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400 (body %s)", resp.status, resp.body)
			}
			got := decodeJSON[wireError](t, resp.body)
			gotParam := ""
			if got.Error.Param != nil {
				gotParam = *got.Error.Param
			}
			if gotParam != tt.wantParam {
				t.Errorf("param = %q, want %q (message %q)", gotParam, tt.wantParam, got.Error.Message)
			}
			if !strings.Contains(got.Error.Message, tt.wantText) {
				t.Errorf("message = %q, want it to contain %q", got.Error.Message, tt.wantText)
			}
			if tt.wantParam != "" && !strings.HasPrefix(got.Error.Message, tt.wantParam+": ") {
				t.Errorf("message = %q, want it to start with the field %q", got.Error.Message, tt.wantParam)
			}
			if got.Error.Type != "invalid_request_error" {
				t.Errorf("type = %q, want invalid_request_error", got.Error.Type)
			}
		})
	}
	if got := s.Stats().ByStatus[http.StatusBadRequest]; got != int64(len(tests)) {
		t.Errorf("ByStatus[400] = %d, want %d", got, len(tests))
	}
}

func TestAPIKey(t *testing.T) {
	tests := []struct {
		name     string
		key      string // configured key
		auth     string // Authorization header sent
		path     string
		want     int
		wantCode string
	}{
		{"no key needed", "", "", "/v1/chat/completions", 200, ""},
		{"no key needed header ignored", "", "Bearer anything", "/v1/chat/completions", 200, ""},
		{"right key", "sk-test", "Bearer sk-test", "/v1/chat/completions", 200, ""},
		{"scheme case ignored", "sk-test", "bearer sk-test", "/v1/chat/completions", 200, ""},
		{"missing header", "sk-test", "", "/v1/chat/completions", 401, "missing_api_key"},
		{"wrong key", "sk-test", "Bearer sk-other", "/v1/chat/completions", 401, "invalid_api_key"},
		{"key prefix only", "sk-test", "Bearer sk-tes", "/v1/chat/completions", 401, "invalid_api_key"},
		{"wrong scheme", "sk-test", "Basic sk-test", "/v1/chat/completions", 401, "invalid_api_key"},
		{"no scheme", "sk-test", "sk-test", "/v1/chat/completions", 401, "invalid_api_key"},
		{"models right key", "sk-test", "Bearer sk-test", "/v1/models", 200, ""},
		{"models missing key", "sk-test", "", "/v1/models", 401, "missing_api_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, url, _ := startStub(t, Config{APIKey: tt.key})
			method, body := http.MethodPost, []byte(validBody)
			if tt.path == "/v1/models" {
				method, body = http.MethodGet, nil
			}
			resp := do(t, newClient(t), method, url+tt.path, tt.auth, body)
			if resp.status != tt.want {
				t.Fatalf("status = %d, want %d (body %s)", resp.status, tt.want, resp.body)
			}
			if tt.wantCode != "" {
				got := decodeJSON[wireError](t, resp.body)
				if got.Error.Code == nil || *got.Error.Code != tt.wantCode {
					t.Errorf("code = %v, want %q", got.Error.Code, tt.wantCode)
				}
			}

			if got, want := s.Stats().LastAuthPresent, tt.auth != ""; got != want {
				t.Errorf("LastAuthPresent = %v, want %v", got, want)
			}
			recs := s.Requests()
			if len(recs) != 1 {
				t.Fatalf("recorded %d requests, want 1", len(recs))
			}
			gotAuth := recs[0].Header.Get("Authorization")
			if tt.auth != "" && (strings.Contains(gotAuth, "sk-") || !strings.Contains(gotAuth, "[REDACTED]")) {
				t.Errorf("recorded Authorization = %q, want the key redacted", gotAuth)
			}
			if recs[0].Status != tt.want {
				t.Errorf("recorded status = %d, want %d", recs[0].Status, tt.want)
			}
		})
	}
}

func TestBodyCap(t *testing.T) {
	const limit = 200
	_, url, _ := startStub(t, Config{MaxBodyBytes: limit})
	c := newClient(t)
	pad := func(n int) []byte {
		body := `{"model":"m","messages":[{"role":"user","content":"`
		tail := `"}]}`
		return []byte(body + strings.Repeat("x", n-len(body)-len(tail)) + tail)
	}
	tests := []struct {
		size int
		want int
	}{
		{limit - 1, http.StatusOK},
		{limit, http.StatusOK},
		{limit + 1, http.StatusRequestEntityTooLarge},
		{10 * limit, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		resp := do(t, c, http.MethodPost, url+"/v1/chat/completions", "", pad(tt.size))
		if resp.status != tt.want {
			t.Errorf("%d-byte body: status = %d, want %d (body %s)", tt.size, resp.status, tt.want, resp.body)
		}
		if tt.want == http.StatusRequestEntityTooLarge {
			got := decodeJSON[wireError](t, resp.body)
			if !strings.Contains(got.Error.Message, "200 bytes") {
				t.Errorf("%d-byte body: message = %q, want it to name the 200-byte limit", tt.size, got.Error.Message)
			}
		}
	}
}

func TestRateLimitEvery(t *testing.T) {
	s, url, _ := startStub(t, Config{RateLimitEvery: 3, RetryAfter: 1500 * time.Millisecond})
	c := newClient(t)
	want := []int{200, 200, 429, 200, 200, 429, 200}
	for i, w := range want {
		resp := do(t, c, http.MethodPost, url+"/v1/chat/completions", "", []byte(validBody))
		if resp.status != w {
			t.Errorf("request %d: status = %d, want %d", i+1, resp.status, w)
		}
		if w != http.StatusTooManyRequests {
			continue
		}
		if got := resp.header.Get("Retry-After"); got != "2" {
			t.Errorf("request %d: Retry-After = %q, want \"2\" (1.5s rounded up)", i+1, got)
		}
		got := decodeJSON[wireError](t, resp.body)
		if got.Error.Code == nil || *got.Error.Code != "rate_limit_exceeded" || got.Error.Type != "requests" {
			t.Errorf("request %d: error = %+v, want type requests, code rate_limit_exceeded", i+1, got.Error)
		}
	}
	st := s.Stats()
	if st.Requests != 7 || st.ByStatus[200] != 5 || st.ByStatus[429] != 2 {
		t.Errorf("stats = %+v, want 7 requests: 5 with 200, 2 with 429", st)
	}
}

func TestRateLimitProbability(t *testing.T) {
	statuses := func(cfg Config, n int) []int {
		s := New(cfg)
		defer s.Close()
		var out []int
		for range n {
			w := httptest.NewRecorder()
			s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(validBody)))
			out = append(out, w.Code)
		}
		return out
	}
	count := func(codes []int, code int) int {
		n := 0
		for _, c := range codes {
			if c == code {
				n++
			}
		}
		return n
	}

	a := statuses(Config{RateLimitProbability: 0.5, Seed: 11}, 400)
	b := statuses(Config{RateLimitProbability: 0.5, Seed: 11}, 400)
	if !equalInts(a, b) {
		t.Error("two servers with seed 11 limited different requests")
	}
	if n := count(a, 429); n < 140 || n > 260 {
		t.Errorf("429s at p=0.5 = %d of 400, want about 200", n)
	}
	if n := count(statuses(Config{RateLimitProbability: 1}, 20), 429); n != 20 {
		t.Errorf("429s at p=1 = %d of 20, want 20", n)
	}
	if n := count(statuses(Config{}, 20), 429); n != 0 {
		t.Errorf("429s with rate limiting off = %d of 20, want 0", n)
	}
}

func TestLatency(t *testing.T) {
	_, url, fake := startStub(t, Config{Latency: 5 * time.Second})
	c := newClient(t)

	respc := make(chan response, 1)
	go func() {
		resp, err := doCtx(context.Background(), c, http.MethodPost, url+"/v1/chat/completions", "", []byte(validBody))
		if err != nil {
			t.Errorf("request: %v", err)
		}
		respc <- resp
	}()
	waitPending(t, fake, 1)
	if due, _ := fake.NextDue(); !due.Equal(testStart.Add(5 * time.Second)) {
		t.Errorf("reply due at %v, want %v", due, testStart.Add(5*time.Second))
	}

	fake.Advance(4 * time.Second)
	select {
	case resp := <-respc:
		t.Fatalf("reply arrived after 4s of a 5s latency: %d %s", resp.status, resp.body)
	default:
	}
	fake.Advance(time.Second)
	resp := <-respc
	if resp.status != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.status)
	}
	if got := decodeJSON[wireCompletion](t, resp.body).Created; got != testStart.Add(5*time.Second).Unix() {
		t.Errorf("created = %d, want the clock after the latency, %d", got, testStart.Add(5*time.Second).Unix())
	}
}

func TestLatencyJitter(t *testing.T) {
	const latency, jitter = time.Second, 2 * time.Second
	s := New(Config{Latency: latency, Jitter: jitter, Seed: 3, Clock: clock.NewFake(testStart)})
	defer s.Close()
	fake := s.cfg.Clock.(*clock.Fake)

	var delays []time.Duration
	for range 20 {
		done := make(chan int, 1)
		go func() {
			w := httptest.NewRecorder()
			s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(validBody)))
			done <- w.Code
		}()
		waitPending(t, fake, 1)
		due, _ := fake.NextDue()
		delays = append(delays, due.Sub(fake.Now()))
		fake.Set(due)
		if code := <-done; code != http.StatusOK {
			t.Fatalf("status = %d, want 200", code)
		}
	}
	distinct := map[time.Duration]bool{}
	for _, d := range delays {
		if d < latency || d > latency+jitter {
			t.Errorf("delay %v is outside [%v, %v]", d, latency, latency+jitter)
		}
		distinct[d] = true
	}
	if len(distinct) < 10 {
		t.Errorf("got %d distinct delays of 20, want jitter to vary them", len(distinct))
	}
}

func TestCanceledRequestStopsTimer(t *testing.T) {
	s, url, fake := startStub(t, Config{Latency: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := doCtx(ctx, newClient(t), http.MethodPost, url+"/v1/chat/completions", "", []byte(validBody))
		errc <- err
	}()
	waitPending(t, fake, 1)
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("canceled request succeeded")
	}

	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().ByStatus[StatusClientClosedRequest] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("stats = %+v after 10s, want one request with status 499", s.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	if got := fake.Pending(); got != 0 {
		t.Errorf("pending timers = %d, want 0 after the client left", got)
	}
}

func TestRoutes(t *testing.T) {
	_, url, _ := startStub(t, Config{Model: "demo-model"})
	c := newClient(t)
	tests := []struct {
		method, path string
		want         int
		wantAllow    string
	}{
		{http.MethodGet, "/v1/models", 200, ""},
		{http.MethodPost, "/v1/models", 405, "GET"},
		{http.MethodGet, "/v1/chat/completions", 405, "POST"},
		{http.MethodGet, "/v1/embeddings", 404, ""},
		{http.MethodGet, "/", 404, ""},
	}
	for _, tt := range tests {
		resp := do(t, c, tt.method, url+tt.path, "", nil)
		if resp.status != tt.want {
			t.Errorf("%s %s: status = %d, want %d", tt.method, tt.path, resp.status, tt.want)
		}
		if got := resp.header.Get("Allow"); got != tt.wantAllow {
			t.Errorf("%s %s: Allow = %q, want %q", tt.method, tt.path, got, tt.wantAllow)
		}
		if tt.want != 200 {
			if got := decodeJSON[wireError](t, resp.body); got.Error.Message == "" {
				t.Errorf("%s %s: error message is empty", tt.method, tt.path)
			}
		}
	}

	list := decodeJSON[modelList](t, do(t, c, http.MethodGet, url+"/v1/models", "", nil).body)
	if list.Object != "list" || len(list.Data) != 1 || list.Data[0].ID != "demo-model" || list.Data[0].Object != "model" || list.Data[0].OwnedBy != "stub" {
		t.Errorf("models = %+v, want a list with demo-model", list)
	}
}

func TestServeAfterClose(t *testing.T) {
	s := New(Config{})
	s.Close()
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(validBody)))
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("status after Close = %d, want 503", w.Code)
	}
}

func TestServeInvalidConfig(t *testing.T) {
	s := New(Config{MaxBodyBytes: -1})
	defer s.Close()
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(validBody)))
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "max_body_bytes = -1") {
		t.Errorf("status = %d, body %s; want 500 naming max_body_bytes = -1", w.Code, w.Body)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
