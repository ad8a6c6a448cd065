package stub_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/wasm-gateway/wasm-gateway/host/stub"
)

func ExampleServer() {
	s := stub.New(stub.Config{APIKey: "sk-example"})
	defer s.Close()
	url, err := s.Start("127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}

	body := `{"model":"demo","messages":[{"role":"user","content":"hello"}]}`
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer sk-example")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()

	var out struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, out.Choices[0].Message.Content)
	fmt.Println("auth header seen:", s.Stats().LastAuthPresent)
	// Output:
	// 200 stub reply to: hello
	// auth header seen: true
}
