package stub

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// replyPrefix starts every reply, so that a transcript shows which provider
// wrote it.
const replyPrefix = "stub reply to: "

// replyQuoteRunes is how many characters of the last user message a reply
// quotes.
const replyQuoteRunes = 80

// ServeHTTP serves the stub API:
//
//   - POST /v1/chat/completions checks the API key (401), caps the body
//     (413), applies the rate limit (429 with Retry-After), validates the
//     body (400 naming the field), waits out Latency and Jitter, and responds
//     with a chat.completion object.
//   - GET /v1/models checks the API key and lists Config.Model.
//
// Other paths get 404 and other methods 405, and every request after Close
// or Shutdown began gets 503. All errors use the OpenAI error object.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "server_error", "", "", "stub provider is shutting down")
		return
	}
	s.handlers.Add(1)
	s.mu.Unlock()
	defer s.handlers.Done()

	rec := Recorded{
		Time:   s.cfg.Clock.Now(),
		Method: r.Method,
		Path:   r.URL.Path,
		Header: redactHeader(r.Header),
	}
	rec.Status = s.serve(w, r, &rec)

	// net/http completes the response only after ServeHTTP returns, so a
	// client that has read a whole response finds its request in Stats and
	// Requests.
	s.mu.Lock()
	s.rec.addLocked(rec)
	s.mu.Unlock()
}

// serve responds to r and returns the status written, or
// StatusClientClosedRequest when nothing was written. It fills rec.Body.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, rec *Recorded) int {
	if s.cfgErr != nil {
		return writeError(w, http.StatusInternalServerError, "server_error", "", "", s.cfgErr.Error())
	}

	var allowed string
	switch r.URL.Path {
	case "/v1/chat/completions":
		allowed = http.MethodPost
	case "/v1/models":
		allowed = http.MethodGet
	default:
		return writeError(w, http.StatusNotFound, "invalid_request_error", "unknown_url", "",
			fmt.Sprintf("unknown path %s: the stub provider serves /v1/chat/completions and /v1/models", r.URL.Path))
	}
	if r.Method != allowed {
		w.Header().Set("Allow", allowed)
		return writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "method_not_allowed", "",
			fmt.Sprintf("method %s is not allowed on %s: use %s", r.Method, r.URL.Path, allowed))
	}
	if status, ok := s.checkKey(w, r); !ok {
		return status
	}
	if allowed == http.MethodGet {
		return writeJSON(w, http.StatusOK, modelList{
			Object: "list",
			Data:   []model{{ID: s.cfg.Model, Object: "model", OwnedBy: "stub"}},
		})
	}
	return s.complete(w, r, rec)
}

// checkKey writes 401 and returns false unless the request carries the
// configured API key, or none is configured.
func (s *Server) checkKey(w http.ResponseWriter, r *http.Request) (int, bool) {
	if s.cfg.APIKey == "" {
		return 0, true
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return writeError(w, http.StatusUnauthorized, "invalid_request_error", "missing_api_key", "",
			"missing API key: send Authorization: Bearer <key>"), false
	}
	scheme, key, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Bearer") ||
		subtle.ConstantTimeCompare([]byte(strings.TrimSpace(key)), []byte(s.cfg.APIKey)) != 1 {
		return writeError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "",
			"invalid API key in the Authorization header"), false
	}
	return 0, true
}

// complete serves one chat completion.
func (s *Server) complete(w http.ResponseWriter, r *http.Request, rec *Recorded) int {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	rec.Body, rec.BodyTruncated = body, len(body) > maxRecordedBody
	if rec.BodyTruncated {
		rec.Body = body[:maxRecordedBody]
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return writeError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large", "",
				fmt.Sprintf("request body is larger than %d bytes: send a smaller body or raise max_body_bytes", s.cfg.MaxBodyBytes))
		}
		return writeError(w, http.StatusBadRequest, "invalid_request_error", "", "",
			fmt.Sprintf("read request body: %v", err))
	}

	// Draw the rate-limit decision and the jitter in a fixed order, so that
	// sequential requests see the same sequence for the same Seed.
	s.mu.Lock()
	s.completions++
	seq := s.completions
	limited := s.cfg.RateLimitEvery > 0 && seq%int64(s.cfg.RateLimitEvery) == 0
	if s.cfg.RateLimitProbability > 0 && s.rng.Float64() < s.cfg.RateLimitProbability {
		limited = true
	}
	delay := s.cfg.Latency
	if s.cfg.Jitter > 0 {
		delay += time.Duration(s.rng.Int64N(int64(s.cfg.Jitter)))
	}
	s.mu.Unlock()

	if limited {
		w.Header().Set("Retry-After", strconv.FormatInt(s.cfg.retryAfterSeconds(), 10))
		return writeError(w, http.StatusTooManyRequests, "requests", "rate_limit_exceeded", "",
			fmt.Sprintf("rate limit reached (stub provider, request %d): retry after %d s", seq, s.cfg.retryAfterSeconds()))
	}

	req, bad := decodeChatRequest(body)
	if bad != nil {
		return writeError(w, http.StatusBadRequest, "invalid_request_error", "", bad.param, bad.message)
	}

	if err := s.sleep(r.Context(), delay); err != nil {
		// Close ends a wait either through base or by closing the
		// connection, which cancels the request context. The closed flag
		// separates both from a client that left.
		if s.isClosed() {
			return writeError(w, http.StatusServiceUnavailable, "server_error", "", "", "stub provider closed during the request")
		}
		return StatusClientClosedRequest
	}
	return writeJSON(w, http.StatusOK, s.reply(req, seq))
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// sleep waits d on the configured clock. It returns an error when ctx ends
// or Close begins first.
func (s *Server) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	done := make(chan struct{})
	timer := s.cfg.Clock.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		timer.Stop()
		return ctx.Err()
	case <-s.base.Done():
		timer.Stop()
		return s.base.Err()
	}
}

// reply builds the deterministic completion for req.
func (s *Server) reply(req chatRequest, seq int64) chatResponse {
	last := ""
	found := false
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			last, found = req.Messages[i].Content, true
			break
		}
	}
	text := replyPrefix + quote(last, replyQuoteRunes)
	if !found {
		text = replyPrefix + "(no user message)"
	}

	prompt := 0
	for _, m := range req.Messages {
		prompt += estimateTokens(m.Content)
	}
	completion := estimateTokens(text)
	return chatResponse{
		ID:      fmt.Sprintf("chatcmpl-stub-%d", seq),
		Object:  "chat.completion",
		Created: s.cfg.Clock.Now().Unix(),
		Model:   req.Model,
		Choices: []chatChoice{{
			Index:        0,
			Message:      responseMessage{Role: "assistant", Content: text},
			FinishReason: "stop",
		}},
		Usage: usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion},
	}
}

// quote returns the first n characters of s, with line breaks as spaces.
func quote(s string, n int) string {
	if utf8.RuneCountInString(s) > n {
		runes := []rune(s)
		s = string(runes[:n])
	}
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// estimateTokens is a token count estimate of one character in four,
// rounded up, as a stand-in for a real tokenizer.
func estimateTokens(s string) int {
	return (utf8.RuneCountInString(s) + 3) / 4
}

func writeJSON(w http.ResponseWriter, status int, v any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The status line is out, so a failed write (a client gone) leaves
	// nothing to report.
	_ = json.NewEncoder(w).Encode(v)
	return status
}

// writeError writes an OpenAI error object. An empty code or param is sent
// as null; param names the request field at fault.
func writeError(w http.ResponseWriter, status int, errType, code, param, message string) int {
	detail := errorDetail{Message: message, Type: errType}
	if code != "" {
		detail.Code = &code
	}
	if param != "" {
		detail.Param = &param
	}
	return writeJSON(w, status, errorBody{Error: detail})
}
