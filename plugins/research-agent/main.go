//go:build wasip1

// Command research-agent is an example of fan-out and fan-in with
// subagents. On a message it spawns one child per non-empty line (up to
// three), each running the summarize plugin on that line, and replies at
// once that the research started. Each child's completion arrives through
// on_subagent_complete: the plugin replies with that item's result and,
// when no sibling is still pending, with the final answer built from every
// child's result. A child that timed out or failed appears in the final
// answer as such, so the answer is partial instead of missing.
//
// The plugin keeps no state between calls, because instances are pooled
// and a later call may run in another instance. The fan-in state comes
// from the host: each completion carries siblings_pending and the
// siblings' results, and each child's label is "i/n".
//
// Configuration (the [[plugin]] config table in gateway.toml):
//
//	child_plugin   plugin to spawn per line (default "summarize")
//	child_timeout  timeout of each child as a Go duration (default "30s")
package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/sdk"
)

func main() {}

// maxItems is the number of lines researched per message.
const maxItems = 3

//go:wasmexport handle
func handle() int32 {
	return sdk.Handle(func(in *abi.HandleInput) (*abi.HandleOutput, error) {
		var items []string
		for _, line := range strings.Split(in.Combined, "\n") {
			if line = strings.TrimSpace(line); line != "" && len(items) < maxItems {
				items = append(items, line)
			}
		}
		if len(items) == 0 {
			return &abi.HandleOutput{Replies: []abi.Reply{{Text: "Send up to three links or lines to research, one per line."}}}, nil
		}

		child, ok := sdk.Config("child_plugin")
		if !ok || child == "" {
			child = "summarize"
		}
		timeout := 30 * time.Second
		if v, ok := sdk.Config("child_timeout"); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, fmt.Errorf("config child_timeout = %q is not a duration: write it like \"30s\"", v)
			}
			timeout = d
		}

		var spawned []string
		var failed []string
		for i, item := range items {
			label := fmt.Sprintf("%d/%d", i+1, len(items))
			id, err := sdk.Spawn(child, []byte(item), timeout, label)
			if err != nil {
				failed = append(failed, fmt.Sprintf("item %s not started: %v", label, err))
				continue
			}
			spawned = append(spawned, id)
		}
		text := fmt.Sprintf("Researching %d item(s).", len(spawned))
		if len(failed) > 0 {
			text += " " + strings.Join(failed, "; ")
		}
		return &abi.HandleOutput{
			Replies: []abi.Reply{{Text: text}},
			Outputs: map[string]any{"spawned": spawned, "not_started": len(failed)},
		}, nil
	})
}

// completion is the input of on_subagent_complete: the ABI fields plus the
// host's fan-in fields.
type completion struct {
	abi.SubagentCompletion
	Attempt         int       `json:"attempt"`
	SiblingsPending int       `json:"siblings_pending"`
	Siblings        []sibling `json:"siblings"`
}

type sibling struct {
	RunID  string `json:"run_id"`
	Label  string `json:"label"`
	Status string `json:"status"`
	Output []byte `json:"output"`
	Error  string `json:"error"`
}

//go:wasmexport on_subagent_complete
func onSubagentComplete() int32 {
	return sdk.Raw(func(data []byte) ([]byte, error) {
		var in completion
		if err := json.Unmarshal(data, &in); err != nil {
			return nil, fmt.Errorf("decode completion: %w", err)
		}
		if in.ABIVersion != 0 && in.ABIVersion != abi.Version {
			return nil, fmt.Errorf("completion has abi_version %d, this plugin was built for %d", in.ABIVersion, abi.Version)
		}
		this := sibling{RunID: in.RunID, Label: in.Label, Status: in.Status, Output: in.Output, Error: in.Error}
		if err := sdk.Reply("[" + in.Label + "] " + result(this)); err != nil {
			return nil, err
		}
		if in.SiblingsPending > 0 {
			return nil, nil
		}
		return nil, sdk.Reply(finalAnswer(append(in.Siblings, this)))
	})
}

// result is one child's result as a line of text.
func result(s sibling) string {
	switch s.Status {
	case "ok":
	case "timeout":
		return "timed out"
	case "cancelled":
		return "cancelled"
	default:
		return "failed: " + s.Error
	}
	var out abi.HandleOutput
	if err := json.Unmarshal(s.Output, &out); err != nil {
		return strings.TrimSpace(string(s.Output))
	}
	if summary, ok := out.Outputs["summary"].(string); ok {
		if words, ok := out.Outputs["words"].(float64); ok {
			return fmt.Sprintf("%s (%d words)", summary, int(words))
		}
		return summary
	}
	if len(out.Replies) > 0 {
		return out.Replies[0].Text
	}
	return "no result"
}

// finalAnswer lists every child's result in label order.
func finalAnswer(all []sibling) string {
	sort.Slice(all, func(i, j int) bool { return labelIndex(all[i].Label) < labelIndex(all[j].Label) })
	ok := 0
	lines := make([]string, 0, len(all))
	for _, s := range all {
		if s.Status == "ok" {
			ok++
		}
		lines = append(lines, fmt.Sprintf("%s. %s", strings.SplitN(s.Label, "/", 2)[0], result(s)))
	}
	head := fmt.Sprintf("Research done: %d of %d item(s) answered.", ok, len(all))
	if ok < len(all) {
		head = fmt.Sprintf("Partial answer: %d of %d item(s) answered.", ok, len(all))
	}
	return head + "\n" + strings.Join(lines, "\n")
}

// labelIndex returns i of a label "i/n", or a large number for another
// label so that it sorts last.
func labelIndex(label string) int {
	i, err := strconv.Atoi(strings.SplitN(label, "/", 2)[0])
	if err != nil {
		return 1 << 30
	}
	return i
}
