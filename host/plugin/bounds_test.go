package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
	"github.com/wasm-gateway/wasm-gateway/testplugins/wat"
)

// heapInuse returns the live heap bytes after two full collections.
func heapInuse() uint64 {
	// Two collections: the first may leave large spans unswept, which
	// HeapInuse still counts; HeapAlloc after the second is the live heap.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// peakHeap samples HeapInuse every millisecond until stop is closed and
// sends the largest value seen.
func peakHeap(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// A neighbour tenant's Urgent p99 under these attacks is measured by the
// hostile-isolation bench row, through a gateway, not by timed assertions.

func TestGrowLoopStopsAtLimit(t *testing.T) {
	const limit = 16 << 20
	p, err := Load(context.Background(), "growloop", wat.GrowLoop, Options{Limits: Limits{MemoryBytes: limit, MaxInstances: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	before := heapInuse()
	for range 5 {
		_, err = p.Call(context.Background(), abi.ExportHandle, nil, nil)
		var ce *CallError
		if !errors.As(err, &ce) || ce.Kind != KindTrap || !strings.Contains(ce.Reason, "unreachable") {
			t.Fatalf("got %v, want a trap after memory.grow failed", err)
		}
	}
	// Each failed call discards its instance, so five calls leave at most
	// one grown memory behind (the idle instance is a fresh one).
	after := heapInuse()
	if after > before+2*limit {
		t.Fatalf("heap in use grew from %d to %d bytes, want at most %d more", before, after, 2*limit)
	}
	t.Logf("heap in use: before %d, after 5 grow loops %d", before, after)
}

func TestDeepRecursionBounded(t *testing.T) {
	const instances = 4
	calls := 64
	if raceEnabled {
		calls = 16 // each overflow takes about 2 s under the race detector
	}
	p, err := Load(context.Background(), "recurse", wat.Recurse, Options{Limits: Limits{MaxInstances: instances, CallTimeout: 5 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	before := heapInuse()
	stop := make(chan struct{})
	peak := peakHeap(stop)

	var wg sync.WaitGroup
	var overflows atomic.Int64
	errs := make(chan error, calls)
	for range calls {
		wg.Go(func() {
			_, err := p.Call(context.Background(), abi.ExportHandle, nil, nil)
			var ce *CallError
			if errors.As(err, &ce) && ce.Kind == KindTrap && strings.Contains(ce.Reason, "stack overflow") {
				overflows.Add(1)
				return
			}
			errs <- err
		})
	}
	wg.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		t.Errorf("got %v, want a stack overflow trap", err)
	}
	if overflows.Load() != int64(calls) {
		t.Fatalf("stack overflows: got %d, want %d", overflows.Load(), calls)
	}
	// wazero 1.12 doubles a call's stack until it passes 50,000,000 bytes, so
	// one overflowing call holds up to about 100 MB of stack, the copy it
	// grew from and earlier copies not yet collected: StackReserveBytes.
	// MaxInstances bounds how many calls do so at once.
	grown := int64(<-peak) - int64(before)
	if bound := int64(instances)*StackReserveBytes + 64<<20; grown > bound {
		t.Fatalf("peak heap grew by %d bytes with %d instances, want at most %d", grown, instances, bound)
	}
	t.Logf("%d recursions on %d instances: peak heap growth %d MB", calls, instances, grown>>20)
	if after := heapInuse(); after > before+64<<20 {
		t.Fatalf("heap in use after the calls: %d bytes, want within 64 MiB of %d", after, before)
	}
}

func TestKernelAbuseTraps(t *testing.T) {
	p, err := Load(context.Background(), "kernelabuse", wat.KernelAbuse, Options{Limits: Limits{MaxInstances: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	for _, ok := range []byte{0, 9} {
		out, err := p.Call(context.Background(), abi.ExportHandle, []byte{ok}, nil)
		if err != nil || string(out) != "ABCDEFGH" {
			t.Fatalf("case %d: got %q, %v; want ABCDEFGH", ok, out, err)
		}
	}
	want := map[byte]string{
		1: "exceeds the kernel memory limit", 2: "exceeds the kernel memory limit",
		3: "outside allocated kernel memory", 4: "outside allocated kernel memory",
		5: "exceeds the limit of 4194304 bytes (max_output_bytes)", 6: "outside allocated kernel memory",
		7: "past the input", 8: "not a live block", 10: "not a live block",
		11: "not a live block", 12: "not a live block",
	}
	before := heapInuse()
	for c := byte(1); c <= 12; c++ {
		if c == 9 {
			continue
		}
		_, err := p.Call(context.Background(), abi.ExportHandle, []byte{c}, nil)
		var ce *CallError
		if !errors.As(err, &ce) || (ce.Kind != KindTrap && ce.Kind != KindLimit) {
			t.Fatalf("case %d: got %v, want a trap", c, err)
		}
		if !strings.Contains(ce.Reason, want[c]) {
			t.Fatalf("case %d: reason %q does not contain %q", c, ce.Reason, want[c])
		}
	}
	// The kernel checks sizes before it allocates, so a request for 4 GiB
	// or 2^64 bytes leaves no trace on the heap.
	if after := heapInuse(); after > before+16<<20 {
		t.Fatalf("heap in use grew from %d to %d bytes", before, after)
	}
}

// blackhole accepts TCP connections on loopback and never answers them.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	return "http://" + ln.Addr().String() + "/"
}

// netHost sends gw_http requests with net/http under the call's context.
type netHost struct {
	BaseHost
	client   *http.Client
	ctxErr   atomic.Value
	returned atomic.Int64
}

func (h *netHost) HTTP(ctx context.Context, req abi.HTTPRequest) abi.HTTPResponse {
	defer h.returned.Add(1)
	r, err := http.NewRequestWithContext(ctx, req.Method, req.URL, nil)
	if err != nil {
		return abi.HTTPResponse{Response: abi.Response{Status: abi.StatusInvalidRequest, Error: err.Error()}}
	}
	resp, err := h.client.Do(r)
	if err != nil {
		h.ctxErr.Store(ctx.Err() != nil)
		return abi.HTTPResponse{Response: abi.Response{Status: abi.StatusTimeout, Error: err.Error()}}
	}
	_ = resp.Body.Close()
	return abi.HTTPResponse{HTTPStatus: resp.StatusCode}
}

func TestHostHTTPCancelledAtDeadline(t *testing.T) {
	url := blackhole(t)
	const deadline = 300 * time.Millisecond
	p, err := Load(context.Background(), "hostcalls", wasmbuild.MustRead("testplugins/hostcalls"),
		Options{Config: map[string]string{"url": url}, Limits: Limits{CallTimeout: deadline, MaxInstances: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	host := &netHost{client: &http.Client{Transport: transport}}
	in, _ := json.Marshal(abi.HandleInput{ABIVersion: abi.Version, Combined: "x"})

	start := time.Now()
	_, err = p.Call(context.Background(), abi.ExportHandle, in, host)
	took := time.Since(start)
	var ce *CallError
	if !errors.As(err, &ce) || ce.Kind != KindTimeout {
		t.Fatalf("got %v, want a timeout", err)
	}
	if took > deadline+time.Second {
		t.Fatalf("call took %v, want the deadline of %v plus a small margin", took, deadline)
	}
	if host.returned.Load() != 1 {
		t.Fatalf("host HTTP calls returned: got %d, want 1", host.returned.Load())
	}
	if v, _ := host.ctxErr.Load().(bool); !v {
		t.Fatal("the host HTTP call ended before its context was done, want it cancelled by the deadline")
	}
}

func TestTrapThenNextCallWorks(t *testing.T) {
	p, err := Load(context.Background(), "kernelabuse", wat.KernelAbuse, Options{Limits: Limits{MaxInstances: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	before := p.Stats()
	if _, err := p.Call(context.Background(), abi.ExportHandle, []byte{3}, nil); err == nil {
		t.Fatal("case 3 returned without trapping")
	}
	checkReplaced(t, p, before, func() error {
		_, err := p.Call(context.Background(), abi.ExportHandle, []byte{0}, nil)
		return err
	})
}
