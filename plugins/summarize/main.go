//go:build wasip1

// Command summarize is an example subagent plugin: it summarizes the text
// it is given as its first sentence and a word count. research-agent
// spawns it once per line of a request.
//
// It replies with the summary and also returns it in the outputs
// "summary" (string) and "words" (number), which a parent reads from the
// completion's output (the JSON of the child's handle output).
package main

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/sdk"
)

func main() {}

// maxSummaryRunes caps the first sentence, so a text without sentence
// punctuation still gives a short summary.
const maxSummaryRunes = 160

// summarize returns the first sentence of text, cut to maxSummaryRunes, and
// the number of words in text.
func summarize(text string) (string, int) {
	text = strings.TrimSpace(text)
	words := len(strings.Fields(text))
	first := text
	if i := strings.IndexAny(text, ".!?\n"); i >= 0 {
		first = text[:i+1]
		if text[i] == '\n' {
			first = text[:i]
		}
	}
	first = strings.TrimSpace(first)
	if utf8.RuneCountInString(first) > maxSummaryRunes {
		first = string([]rune(first)[:maxSummaryRunes]) + "..."
	}
	return first, words
}

//go:wasmexport handle
func handle() int32 {
	return sdk.Handle(func(in *abi.HandleInput) (*abi.HandleOutput, error) {
		if in.Combined == "" {
			return nil, fmt.Errorf("nothing to summarize: spawn summarize with a non-empty text input")
		}
		summary, words := summarize(in.Combined)
		return &abi.HandleOutput{
			Replies: []abi.Reply{{Text: fmt.Sprintf("%s (%d words)", summary, words)}},
			Outputs: map[string]any{"summary": summary, "words": words},
		}, nil
	})
}
