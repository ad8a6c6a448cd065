package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/stub"
)

func init() {
	Register(Row{
		ID: "stub-completion",
		Doc: "one POST /v1/chat/completions to the stub provider over a kept-alive loopback connection: " +
			"µs per request, against a bare net/http handler that returns a fixed JSON body over the same " +
			"kind of connection in the same run",
		Run: runStubCompletion,
	})
}

const stubBenchBody = `{"model":"bench","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"how do I retry a failed webhook"}]}`

func runStubCompletion(ctx context.Context, env Env) ([]Result, error) {
	requests := 5000
	if env.Quick {
		requests = 500
	}

	s := stub.New(stub.Config{RecordLimit: 1})
	defer s.Close()
	stubURL, err := s.Start("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	stubTime, err := stubPostRounds(ctx, stubURL+"/v1/chat/completions", requests)
	if err != nil {
		return nil, fmt.Errorf("stub-completion: stub: %w", err)
	}

	fixed := []byte(`{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}`)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	bare := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.Write(fixed)
		}),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		bare.Serve(ln)
	}()
	defer func() {
		bare.Close()
		<-done
	}()
	bareTime, err := stubPostRounds(ctx, "http://"+ln.Addr().String()+"/", requests)
	if err != nil {
		return nil, fmt.Errorf("stub-completion: bare handler: %w", err)
	}

	perRequest := func(total time.Duration) float64 {
		return float64(total.Microseconds()) / float64(requests)
	}
	return []Result{
		NewResult("round trip", perRequest(stubTime), perRequest(bareTime), "µs/request",
			"sequential requests, one client connection"),
	}, nil
}

// stubPostRounds posts the bench body to url n times over one kept-alive
// connection and returns the total time.
func stubPostRounds(ctx context.Context, url string, n int) (time.Duration, error) {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	body := []byte(stubBenchBody)

	start := time.Now()
	for range n {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("status %d from %s", resp.StatusCode, url)
		}
	}
	return time.Since(start), nil
}
