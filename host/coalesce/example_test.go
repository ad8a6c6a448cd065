package coalesce_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/coalesce"
)

func Example() {
	clk := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	sink := func(b *coalesce.Batch) {
		fmt.Printf("run with %d messages: %q\n", len(b.Messages), b.Combined)
		b.Done() // the run finished
	}
	c, err := coalesce.New(coalesce.Config{}, clk, sink)
	if err != nil {
		fmt.Println(err)
		return
	}

	for _, text := range []string{"hi", "  can you check the build?  ", ""} {
		m := coalesce.Message{Session: "discord:dev:alice", Text: text, Priority: coalesce.PriorityNormal}
		if _, err := c.Add(m); err != nil {
			fmt.Println(err)
		}
	}
	clk.Advance(1500 * time.Millisecond) // the default fixed window closes

	if err := c.Close(context.Background()); err != nil {
		fmt.Println(err)
	}
	st := c.Stats()
	fmt.Printf("messages %d, runs %d, runs saved %d\n", st.Messages, st.Runs, st.RunsSaved)
	// Output:
	// run with 3 messages: "hi\n\ncan you check the build?"
	// messages 3, runs 1, runs saved 2
}
