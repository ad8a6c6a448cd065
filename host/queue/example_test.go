package queue_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/queue"
)

func Example() {
	q, err := queue.New(queue.Config{MaxConcurrentSessions: 4}, clock.Real())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Close()

	// Enqueue returns at once; the Handle settles when the task is done.
	h, err := q.Enqueue(context.Background(), queue.Task{
		Session:  "chat-42",
		Tenant:   "acme",
		Priority: queue.Normal,
		Label:    "msg-1",
		Run: func(ctx context.Context, info queue.RunInfo) error {
			fmt.Printf("running %s in session %s on lane %s\n", info.Label, info.Session, info.Lane)
			return nil
		},
	})
	switch {
	case errors.Is(err, queue.ErrQueueFull), errors.Is(err, queue.ErrTenantQueueFull):
		fmt.Println("429:", err)
		return
	case err != nil:
		fmt.Println(err)
		return
	}
	fmt.Println("settled:", h.Wait(context.Background()))
	// Output:
	// running msg-1 in session chat-42 on lane main
	// settled: <nil>
}
