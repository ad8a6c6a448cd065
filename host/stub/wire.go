package stub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The OpenAI chat completions wire format, limited to the fields the stub
// reads or writes. Unknown request fields (temperature, tools, ...) are
// accepted and ignored.

// chatRequest is a validated POST /v1/chat/completions body.
type chatRequest struct {
	Model    string
	Messages []chatMessage
}

// chatMessage is one request message with its content flattened to text.
type chatMessage struct {
	Role    string
	Content string
}

type chatResponse struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   usage        `json:"usage"`
}

type chatChoice struct {
	Index        int             `json:"index"`
	Message      responseMessage `json:"message"`
	FinishReason string          `json:"finish_reason"`
}

type responseMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type modelList struct {
	Object string  `json:"object"`
	Data   []model `json:"data"`
}

type model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// errorBody is the OpenAI error envelope.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// requestError is a 400 response: the message and the request field it names,
// or "" when the body as a whole is wrong.
type requestError struct {
	param   string
	message string
}

func (e *requestError) Error() string { return e.message }

func badField(param, format string, args ...any) *requestError {
	return &requestError{param: param, message: param + ": " + fmt.Sprintf(format, args...)}
}

// roles are the message roles of the OpenAI chat completions API.
var roles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true, "function": true}

// decodeChatRequest parses and validates a chat completions body. The error
// names the first invalid field.
func decodeChatRequest(body []byte) (chatRequest, *requestError) {
	var raw struct {
		Model    json.RawMessage `json:"model"`
		Messages json.RawMessage `json:"messages"`
		Stream   json.RawMessage `json:"stream"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return chatRequest{}, jsonError("", err)
	}

	var req chatRequest
	if isNull(raw.Model) {
		return req, badField("model", "missing: set the model id")
	}
	if err := json.Unmarshal(raw.Model, &req.Model); err != nil {
		return req, badField("model", "must be a string")
	}
	if strings.TrimSpace(req.Model) == "" {
		return req, badField("model", "is empty: set the model id")
	}

	if !isNull(raw.Stream) {
		var stream bool
		if err := json.Unmarshal(raw.Stream, &stream); err != nil {
			return req, badField("stream", "must be a boolean")
		}
		if stream {
			// TODO: the stub sends only a whole JSON response, so a
			// client that needs server-sent events cannot use it.
			return req, badField("stream", "true is not supported by the stub provider: set it to false")
		}
	}

	if isNull(raw.Messages) {
		return req, badField("messages", "missing: set an array of {role, content}")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw.Messages, &items); err != nil {
		return req, badField("messages", "must be an array of {role, content}")
	}
	if len(items) == 0 {
		return req, badField("messages", "is empty: send at least one message")
	}
	for i, item := range items {
		m, bad := decodeMessage(item, fmt.Sprintf("messages[%d]", i))
		if bad != nil {
			return req, bad
		}
		req.Messages = append(req.Messages, m)
	}
	return req, nil
}

func decodeMessage(item json.RawMessage, path string) (chatMessage, *requestError) {
	var raw struct {
		Role    json.RawMessage `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(item, &raw); err != nil {
		return chatMessage{}, badField(path, "must be an object with role and content")
	}

	var m chatMessage
	if isNull(raw.Role) {
		return m, badField(path+".role", "missing: set one of system, developer, user, assistant, tool")
	}
	if err := json.Unmarshal(raw.Role, &m.Role); err != nil {
		return m, badField(path+".role", "must be a string")
	}
	if !roles[m.Role] {
		return m, badField(path+".role", "%q is not a role: use system, developer, user, assistant or tool", m.Role)
	}

	// Content is a string, an array of content parts, or null (an
	// assistant message that only calls tools).
	switch {
	case isNull(raw.Content):
	case raw.Content[0] == '"':
		if err := json.Unmarshal(raw.Content, &m.Content); err != nil {
			return m, badField(path+".content", "must be a string or an array of content parts")
		}
	case raw.Content[0] == '[':
		text, bad := decodeContentParts(raw.Content, path+".content")
		if bad != nil {
			return m, bad
		}
		m.Content = text
	default:
		return m, badField(path+".content", "must be a string or an array of content parts")
	}
	return m, nil
}

// decodeContentParts joins the text of the "text" parts with newlines.
// Other part types (image_url, input_audio, ...) carry no text and are
// skipped.
func decodeContentParts(content json.RawMessage, path string) (string, *requestError) {
	var parts []struct {
		Type *string `json:"type"`
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(content, &parts); err != nil {
		return "", badField(path, "must be an array of {type, text} content parts")
	}
	var texts []string
	for i, p := range parts {
		partPath := fmt.Sprintf("%s[%d]", path, i)
		if p.Type == nil {
			return "", badField(partPath+".type", "missing: set it to \"text\" or another content part type")
		}
		if *p.Type != "text" {
			continue
		}
		if p.Text == nil {
			return "", badField(partPath+".text", "missing in a text part")
		}
		texts = append(texts, *p.Text)
	}
	return strings.Join(texts, "\n"), nil
}

// jsonError turns a decode error of the whole body into a requestError that
// gives the byte offset or the field.
func jsonError(param string, err error) *requestError {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return &requestError{param: param, message: fmt.Sprintf("request body is not valid JSON at byte offset %d: %v", syntax.Offset, err)}
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return &requestError{param: param, message: fmt.Sprintf("request body must be a JSON object, not %s", typeErr.Value)}
	case errors.As(err, &typeErr):
		return badField(typeErr.Field, "must not be %s", typeErr.Value)
	default:
		return &requestError{param: param, message: fmt.Sprintf("request body is not valid JSON: %v", err)}
	}
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}
