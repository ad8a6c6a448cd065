package stub

import (
	"strings"
	"testing"
)

// FuzzDecodeChatRequest checks that the request decoder never panics, that
// every rejection names a reason, and that an accepted request is valid.
func FuzzDecodeChatRequest(f *testing.F) {
	// Accepted bodies.
	for _, seed := range []string{
		validBody,
		`{"model":"m","messages":[{"role":"assistant","content":null},{"role":"user","content":[{"type":"text","text":"a"}]}]}`,
		`{"model":"m","stream":false,"temperature":1,"messages":[{"role":"tool","content":"x","tool_call_id":"1"}]}`,
	} {
		f.Add([]byte(seed))
	}
	// Rejected bodies.
	for _, seed := range []string{
		``, `null`, `[]`, `{"model":1}`, `{"model":"m","messages":[{}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}`,
		`{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`,
		"{\"model\":\"\xff\",\"messages\":[]}",
	} {
		f.Add([]byte(seed))
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		req, bad := decodeChatRequest(body)
		if bad != nil {
			if bad.message == "" {
				t.Fatalf("rejection of %q has no message", body)
			}
			if bad.param != "" && !strings.HasPrefix(bad.message, bad.param+": ") {
				t.Errorf("message %q does not start with its field %q", bad.message, bad.param)
			}
			return
		}
		if strings.TrimSpace(req.Model) == "" || len(req.Messages) == 0 {
			t.Fatalf("accepted %q with model %q and %d messages", body, req.Model, len(req.Messages))
		}
		for i, m := range req.Messages {
			if !roles[m.Role] {
				t.Errorf("accepted message %d with role %q", i, m.Role)
			}
		}
	})
}
