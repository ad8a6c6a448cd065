package bench

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/queue"
)

func init() {
	Register(Row{
		ID: "session-isolation-throughput",
		Doc: "64 sessions x 20 tasks of 20 ms simulated I/O under max_concurrent_sessions = 16, " +
			"in tasks/s, against one FIFO lane with concurrency 1 (goal: >= 15x)",
		Run: runSessionIsolation,
	})
	Register(Row{
		ID: "urgent-wait-p99",
		Doc: "enqueue-to-start wait of Urgent tasks sent every 25 ms into a flood of 1,000 Background tasks of 10 ms " +
			"(main lane concurrency 4), against the same queue with every task at one priority, so FIFO " +
			"(goal: p99 >= 95% lower and <= 11 ms)",
		Run: runUrgentWait,
	})
	Register(Row{
		ID: "scheduler-overhead",
		Doc: "no-op tasks: enqueue-to-start p50 of one task on an idle queue against a bare goroutine start, " +
			"and tasks/s over 1,000,000 lane-only tasks against a channel feeding 4 workers " +
			"(goals: p50 <= 2 us, >= 500,000 tasks/s); also allocations per task",
		Run: runSchedulerOverhead,
	})
	Register(Row{
		ID: "idle-session-memory",
		Doc: "heap bytes per queued session with 1,000,000 sessions of one waiting task each, against a goroutine " +
			"per session blocked on its own channel (heap + stack, measured over 20,000 sessions); and the heap " +
			"after all tasks ran against the heap before (goals: <= 500 B per session, heap back to baseline)",
		Run: runIdleSessionMemory,
	})
}

func noopRun(context.Context, queue.RunInfo) error { return nil }

// waitQueueIdle polls Stats until nothing is queued or running in any lane.
func waitQueueIdle(ctx context.Context, q *queue.Queue) error {
	for {
		idle := true
		for _, l := range q.Stats().Lanes {
			if l.Queued > 0 || l.Active > 0 {
				idle = false
			}
		}
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// runTasks enqueues count tasks from task(i) and returns the time until all
// of them settled.
func runTasks(ctx context.Context, q *queue.Queue, count int, task func(i int) queue.Task) (time.Duration, error) {
	start := time.Now()
	handles := make([]*queue.Handle, 0, count)
	for i := range count {
		h, err := q.Enqueue(ctx, task(i))
		if err != nil {
			return 0, err
		}
		handles = append(handles, h)
	}
	for _, h := range handles {
		if err := h.Wait(ctx); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

func newBenchQueue(cfg queue.Config) (*queue.Queue, error) {
	return queue.New(cfg, clock.Real())
}

func runSessionIsolation(ctx context.Context, env Env) ([]Result, error) {
	const work = 20 * time.Millisecond
	sessions, perSession, baselineTasks := 64, 20, 320
	if env.Quick {
		sessions, perSession, baselineTasks = 16, 4, 16
	}
	sleep := func(context.Context, queue.RunInfo) error { time.Sleep(work); return nil }

	q, err := newBenchQueue(queue.Config{
		MaxConcurrentSessions: 16,
		SessionQueueCap:       perSession,
		Lanes:                 map[string]queue.LaneConfig{queue.LaneMain: {Concurrency: 16}},
	})
	if err != nil {
		return nil, err
	}
	defer q.Close()
	total := sessions * perSession
	elapsed, err := runTasks(ctx, q, total, func(i int) queue.Task {
		return queue.Task{Session: "s" + strconv.Itoa(i/perSession), Priority: queue.Normal, Run: sleep}
	})
	if err != nil {
		return nil, err
	}

	// The FIFO baseline runs fewer tasks because it takes 20 ms each; the
	// comparison is per task.
	fifo, err := newBenchQueue(queue.Config{Lanes: map[string]queue.LaneConfig{queue.LaneMain: {Concurrency: 1}}})
	if err != nil {
		return nil, err
	}
	defer fifo.Close()
	baseElapsed, err := runTasks(ctx, fifo, baselineTasks, func(int) queue.Task {
		return queue.Task{Priority: queue.Normal, Run: sleep}
	})
	if err != nil {
		return nil, err
	}

	rate := float64(total) / elapsed.Seconds()
	baseRate := float64(baselineTasks) / baseElapsed.Seconds()
	note := fmt.Sprintf("goal >= 15x; %d tasks vs %d baseline tasks", total, baselineTasks)
	return []Result{NewResult("throughput", rate, baseRate, "tasks/s", note)}, nil
}

func runUrgentWait(ctx context.Context, env Env) ([]Result, error) {
	const work = 10 * time.Millisecond
	const every = 25 * time.Millisecond
	flood := 1000
	if env.Quick {
		flood = 100
	}

	measure := func(urgent, background queue.Priority) ([]time.Duration, error) {
		q, err := newBenchQueue(queue.Config{Lanes: map[string]queue.LaneConfig{queue.LaneMain: {Concurrency: 4}}})
		if err != nil {
			return nil, err
		}
		defer q.Close()
		sleep := func(context.Context, queue.RunInfo) error { time.Sleep(work); return nil }
		var floodHandles []*queue.Handle
		for i := range flood {
			h, err := q.Enqueue(ctx, queue.Task{Session: "bg" + strconv.Itoa(i), Priority: background, Run: sleep})
			if err != nil {
				return nil, err
			}
			floodHandles = append(floodHandles, h)
		}
		last := floodHandles[len(floodHandles)-1]

		var mu sync.Mutex
		var waits []time.Duration
		var probes []*queue.Handle
		ticker := time.NewTicker(every)
		defer ticker.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-last.Done():
				for _, h := range probes {
					if err := h.Wait(ctx); err != nil {
						return nil, err
					}
				}
				return waits, nil
			case <-ticker.C:
			}
			enqueued := time.Now()
			h, err := q.Enqueue(ctx, queue.Task{Session: "urgent" + strconv.Itoa(i), Priority: urgent, Run: func(context.Context, queue.RunInfo) error {
				mu.Lock()
				waits = append(waits, time.Since(enqueued))
				mu.Unlock()
				time.Sleep(work)
				return nil
			}})
			if err != nil {
				return nil, err
			}
			probes = append(probes, h)
		}
	}

	waits, err := measure(queue.Urgent, queue.Background)
	if err != nil {
		return nil, err
	}
	fifoWaits, err := measure(queue.Normal, queue.Normal)
	if err != nil {
		return nil, err
	}
	if len(waits) == 0 || len(fifoWaits) == 0 {
		return nil, fmt.Errorf("urgent-wait-p99: no urgent task was sent during the flood")
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	p50, p99 := quantiles(waits)
	b50, b99 := quantiles(fifoWaits)
	n := fmt.Sprintf("%d urgent samples, %d FIFO samples", len(waits), len(fifoWaits))
	return []Result{
		NewResult("urgent-wait-p50", ms(p50), ms(b50), "ms", n),
		NewResult("urgent-wait-p99", ms(p99), ms(b99), "ms", "goal: ratio <= 0.05 and value <= 11 ms; "+n),
	}, nil
}

// quantiles returns the nearest-rank p50 and p99 of waits.
func quantiles(waits []time.Duration) (p50, p99 time.Duration) {
	sorted := slices.Sorted(slices.Values(waits))
	at := func(p int) time.Duration { return sorted[max((p*len(sorted)+99)/100-1, 0)] }
	return at(50), at(99)
}

func runSchedulerOverhead(ctx context.Context, env Env) ([]Result, error) {
	// Tasks are enqueued as the gateway enqueues them, under a context that
	// is never cancelled: under a cancellable one the queue registers a
	// cancellation hook per task, whose map space outlives the drain.
	ctx = context.WithoutCancel(ctx)

	latencyRuns, throughputTasks := 20000, 1_000_000
	if env.Quick {
		latencyRuns, throughputTasks = 2000, 100_000
	}

	// Enqueue-to-start on an idle queue, one task at a time.
	q, err := newBenchQueue(queue.Config{})
	if err != nil {
		return nil, err
	}
	defer q.Close()
	lat := make([]time.Duration, latencyRuns)
	for i := range lat {
		start := time.Now()
		h, err := q.Enqueue(ctx, queue.Task{Session: "s", Priority: queue.Normal, Run: func(context.Context, queue.RunInfo) error {
			lat[i] = time.Since(start)
			return nil
		}})
		if err != nil {
			return nil, err
		}
		if err := h.Wait(ctx); err != nil {
			return nil, err
		}
	}
	base := make([]time.Duration, latencyRuns)
	for i := range base {
		start := time.Now()
		done := make(chan struct{})
		go func() {
			base[i] = time.Since(start)
			close(done)
		}()
		<-done
	}
	p50, _ := quantiles(lat)
	b50, _ := quantiles(base)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

	// Throughput of no-op lane-only tasks with 4 slots, enqueued from one
	// goroutine.
	tq, err := newBenchQueue(queue.Config{Lanes: map[string]queue.LaneConfig{queue.LaneMain: {Concurrency: 4}}})
	if err != nil {
		return nil, err
	}
	defer tq.Close()
	var wg sync.WaitGroup
	run := func(context.Context, queue.RunInfo) error { wg.Done(); return nil }
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	wg.Add(throughputTasks)
	for range throughputTasks {
		if _, err := tq.Enqueue(ctx, queue.Task{Priority: queue.Normal, Run: run}); err != nil {
			return nil, err
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if err := waitQueueIdle(ctx, tq); err != nil {
		return nil, err
	}
	allocs := float64(after.Mallocs-before.Mallocs) / float64(throughputTasks)
	bytes := float64(after.TotalAlloc-before.TotalAlloc) / float64(throughputTasks)

	// Baseline: a buffered channel feeding 4 workers, the least a FIFO
	// worker pool can do.
	jobs := make(chan func(), 1024)
	var workers sync.WaitGroup
	for range 4 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for f := range jobs {
				f()
			}
		}()
	}
	var bwg sync.WaitGroup
	bstart := time.Now()
	bwg.Add(throughputTasks)
	for range throughputTasks {
		jobs <- bwg.Done
	}
	bwg.Wait()
	belapsed := time.Since(bstart)
	close(jobs)
	workers.Wait()

	rate := float64(throughputTasks) / elapsed.Seconds()
	brate := float64(throughputTasks) / belapsed.Seconds()
	return []Result{
		NewResult("enqueue-to-start-p50", us(p50), us(b50), "us", "goal <= 2 us; baseline is a bare go statement"),
		NewResult("throughput", rate, brate, "tasks/s", "goal >= 500,000 tasks/s; baseline is a channel and 4 workers"),
		NewResult("allocs-per-task", allocs, 0, "allocs", fmt.Sprintf("%.0f bytes allocated per task", bytes)),
	}, nil
}

func runIdleSessionMemory(ctx context.Context, env Env) ([]Result, error) {
	// Tasks are enqueued as the gateway enqueues them, under a context that
	// is never cancelled: under a cancellable one the queue registers a
	// cancellation hook per task, whose map space outlives the drain.
	ctx = context.WithoutCancel(ctx)

	sessions := 1_000_000
	if env.Quick {
		sessions = 50_000
	}
	keys := make([]string, sessions)
	for i := range keys {
		keys[i] = "session-" + strconv.Itoa(i)
	}

	q, err := newBenchQueue(queue.Config{Lanes: map[string]queue.LaneConfig{queue.LaneMain: {Concurrency: 1}}})
	if err != nil {
		return nil, err
	}
	defer q.Close()

	// A lane-only task holds the only slot, so every session task waits.
	release := make(chan struct{})
	blocker, err := q.Enqueue(ctx, queue.Task{Priority: queue.Urgent, Run: func(context.Context, queue.RunInfo) error {
		<-release
		return nil
	}})
	if err != nil {
		return nil, err
	}

	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	baseline := heap()
	for _, key := range keys {
		if _, err := q.Enqueue(ctx, queue.Task{Session: key, Priority: queue.Normal, Run: noopRun}); err != nil {
			close(release)
			return nil, err
		}
	}
	loaded := heap()
	if got := q.Stats().Sessions.Waiting; got != sessions {
		close(release)
		return nil, fmt.Errorf("idle-session-memory: %d sessions waiting, want %d", got, sessions)
	}

	close(release)
	if err := blocker.Wait(ctx); err != nil {
		return nil, err
	}
	if err := waitQueueIdle(ctx, q); err != nil {
		return nil, err
	}
	drained := heap()
	runtime.KeepAlive(keys)

	perSession := (float64(loaded) - float64(baseline)) / float64(sessions)
	perGoroutine := goroutinePerSessionBytes(min(sessions, 20_000))
	return []Result{
		NewResult("bytes-per-queued-session", perSession, perGoroutine, "B", fmt.Sprintf("goal <= 500 B; %d sessions", sessions)),
		NewResult("heap-after-drain", float64(drained)/(1<<20), float64(baseline)/(1<<20), "MiB", "goal: ratio about 1"),
	}, nil
}

// goroutinePerSessionBytes measures the heap and stack per session of the
// design the queue avoids: one goroutine per session, parked on a channel
// that holds its one waiting task.
func goroutinePerSessionBytes(sessions int) float64 {
	used := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc + ms.StackInuse
	}
	before := used()
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range sessions {
		tasks := make(chan func(context.Context, queue.RunInfo) error, 1)
		tasks <- noopRun
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
			for run := range tasks {
				_ = run
				return
			}
		}()
	}
	after := used()
	close(release)
	wg.Wait()
	return (float64(after) - float64(before)) / float64(sessions)
}
