package subagent_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/subagent"
)

// laneRunner replaces the Subagent lane in this example. It runs each child
// at once, inside Start.
type laneRunner struct{ reg **subagent.Registry }

func (l laneRunner) Start(ctx context.Context, run *subagent.Run) error {
	reg := *l.reg
	if err := reg.Started(run.ID); err != nil {
		return err
	}
	return reg.End(run.ID, subagent.StatusOK, append([]byte("echo: "), run.Input...), nil)
}

// parentCallback replaces the parent session's on_subagent_complete call.
type parentCallback chan subagent.Completion

func (p parentCallback) Deliver(ctx context.Context, c subagent.Completion) error {
	p <- c
	return nil
}

func Example() {
	var reg *subagent.Registry
	callbacks := make(parentCallback, 1)
	reg, err := subagent.New(subagent.Config{}, clock.NewFake(time.Unix(0, 0)), subagent.Deps{
		Runner:   laneRunner{reg: &reg},
		Notifier: callbacks,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close(context.Background())

	id, err := reg.Spawn(context.Background(), subagent.SpawnRequest{
		ParentSession: "chat-42",
		ParentRun:     "run-7",
		Plugin:        "summarizer",
		Input:         []byte("hello"),
		Timeout:       time.Minute,
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	rec, err := reg.WaitForSubagentRun(context.Background(), id)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rec.Status, string(rec.Output), rec.Depth)

	c := <-callbacks
	fmt.Println(c.ParentSession, c.Attempt, c.ID == id)
	// Output:
	// ok echo: hello 1
	// chat-42 1 true
}
