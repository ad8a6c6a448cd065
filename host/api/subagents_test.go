package api

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("decode %s: %v", url, err)
		}
	}
	return resp.StatusCode
}

// TestSubagentAPI shares one server across its cases, because each server
// compiles its plugin.
func TestSubagentAPI(t *testing.T) {
	srv, _ := newServer(t)
	t.Run("wait unknown id", func(t *testing.T) { testSubagentWaitUnknownID(t, srv.URL) })
	t.Run("bad input", func(t *testing.T) { testSubagentAPIBadInput(t, srv.URL) })
	t.Run("list empty", func(t *testing.T) { testSubagentListEmpty(t, srv.URL) })
}

func testSubagentWaitUnknownID(t *testing.T, base string) {
	// An unknown id returns 404 at once, without waiting out ?wait.
	start := time.Now()
	var e apiError
	if code := getJSON(t, base+"/v1/subagents/sa-unknown?wait=30s", &e); code != http.StatusNotFound {
		t.Fatalf("status: got %d, want 404", code)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("unknown id took %s, want an answer without waiting", took)
	}
	if e.Error == "" {
		t.Fatal("404 body has no error text")
	}
}

func testSubagentAPIBadInput(t *testing.T, base string) {
	for _, tc := range []struct {
		name, path string
		want       int
	}{
		{"wait not a duration", "/v1/subagents/sa-1?wait=soon", http.StatusBadRequest},
		{"wait negative", "/v1/subagents/sa-1?wait=-1s", http.StatusBadRequest},
		{"wait too long", "/v1/subagents/sa-1?wait=1h", http.StatusBadRequest},
		{"list without parent", "/v1/subagents", http.StatusBadRequest},
	} {
		if code := getJSON(t, base+tc.path, nil); code != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, code, tc.want)
		}
	}
}

func testSubagentListEmpty(t *testing.T, base string) {
	var list SubagentList
	if code := getJSON(t, base+"/v1/subagents?parent=s:1", &list); code != http.StatusOK {
		t.Fatalf("status: got %d, want 200", code)
	}
	if list.Parent != "s:1" || list.Runs == nil || len(list.Runs) != 0 {
		t.Fatalf("list: got %+v, want parent s:1 and an empty runs array", list)
	}
}
