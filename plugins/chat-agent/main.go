//go:build wasip1

// Command chat-agent is an example agent plugin: it turns a run's message
// batch into a chat completions request, sends it through the host's HTTP
// function to an OpenAI-compatible endpoint, and replies with the answer.
//
// Configuration (the [[plugin]] config table in gateway.toml):
//
//	endpoint  base URL of the provider, such as "https://api.openai.com/v1"
//	model     model name sent in the request
//	auth      auth profile whose credential the host attaches (optional)
//	system    system prompt (optional)
//
// The plugin never sees the credential: it names the profile and the host
// attaches the header on requests to that profile's origins.
//
// A message "remind me in DURATION: TEXT" sets a timer instead of going to
// the provider, and on_timer replies TEXT in the same session when it fires.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/sdk"
)

func main() {}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model    string        `json:"model"`
	Messages []chatMessage `json:"messages"`
}

type chatResponse struct {
	Choices []struct {
		Message chatMessage `json:"message"`
	} `json:"choices"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// prompt builds the conversation: the system prompt, then one user turn
// per message of the batch, with the sender named.
func prompt(in *abi.HandleInput, system string) []chatMessage {
	msgs := []chatMessage{}
	if system != "" {
		msgs = append(msgs, chatMessage{Role: "system", Content: system})
	}
	for _, n := range in.Notices {
		msgs = append(msgs, chatMessage{Role: "system", Content: "note: " + n})
	}
	for _, m := range in.Messages {
		text := strings.TrimSpace(m.Text)
		if text == "" && len(m.Images) == 0 {
			continue
		}
		if len(m.Images) > 0 {
			text += fmt.Sprintf(" [%d image(s) attached]", len(m.Images))
		}
		msgs = append(msgs, chatMessage{Role: "user", Content: m.Sender + ": " + text})
	}
	return msgs
}

//go:wasmexport handle
func handle() int32 {
	return sdk.Handle(func(in *abi.HandleInput) (*abi.HandleOutput, error) {
		reminders := takeReminders(in)
		if len(in.Messages) == 0 {
			return &abi.HandleOutput{Replies: reminders, Outputs: map[string]any{"reminders": len(reminders)}}, nil
		}
		endpoint, ok := sdk.Config("endpoint")
		if !ok {
			return nil, errors.New("config key endpoint is missing: set it in the [[plugin]] config table")
		}
		model, _ := sdk.Config("model")
		system, _ := sdk.Config("system")
		profile, _ := sdk.Config("auth")

		body, err := json.Marshal(chatRequest{Model: model, Messages: prompt(in, system)})
		if err != nil {
			return nil, err
		}
		resp, err := sdk.HTTP(abi.HTTPRequest{
			Method:  "POST",
			URL:     strings.TrimRight(endpoint, "/") + "/chat/completions",
			Headers: map[string][]string{"Content-Type": {"application/json"}},
			Body:    body,
			Auth:    profile,
		})
		if err != nil {
			return nil, fmt.Errorf("provider request: %w", err)
		}
		var out chatResponse
		if err := json.Unmarshal(resp.Body, &out); err != nil {
			return nil, fmt.Errorf("provider answered HTTP %d with a body that is not JSON: %w", resp.HTTPStatus, err)
		}
		if resp.HTTPStatus != 200 || len(out.Choices) == 0 {
			msg := ""
			if out.Error != nil {
				msg = out.Error.Message
			}
			return nil, fmt.Errorf("provider answered HTTP %d: %s", resp.HTTPStatus, msg)
		}
		reply := abi.Reply{Text: out.Choices[0].Message.Content}
		if last := in.Messages[len(in.Messages)-1]; in.Priority == abi.Urgent {
			reply.ReplyTo = last.ID
		}
		return &abi.HandleOutput{
			Replies: append(reminders, reply),
			Outputs: map[string]any{"messages": len(in.Messages), "model": model},
		}, nil
	})
}
