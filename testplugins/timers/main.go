//go:build wasip1

// Command timers sets and clears plugin timers as its messages say, one
// command per message, and replies with what the host returned. on_timer
// replies with the firing it received.
//
// Commands:
//
//	set LABEL DELAY_MS INTERVAL_MS PAYLOAD   reply "set ID" or "error STATUS"
//	clear-id ID                             reply "cleared N" or "error STATUS"
//	clear-label LABEL                       reply "cleared N" or "error STATUS"
//	spin                                    loop until the call times out
//
// A firing whose payload is "spin" loops until the call times out too.
package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/sdk"
)

func main() {}

var sink int

func spin() {
	for i := 0; ; i++ {
		sink += i
	}
}

func status(err error) string {
	var e *abi.Error
	if errors.As(err, &e) {
		return "error " + e.Status.String()
	}
	return "error " + err.Error()
}

func command(text string) string {
	f := strings.Fields(text)
	if len(f) == 0 {
		return "error empty command"
	}
	switch {
	case f[0] == "spin":
		spin()
	case f[0] == "set" && len(f) >= 4:
		delay, _ := strconv.ParseInt(f[2], 10, 64)
		every, _ := strconv.ParseInt(f[3], 10, 64)
		payload := ""
		if len(f) > 4 {
			payload = strings.Join(f[4:], " ")
		}
		id, err := sdk.SetTimer(f[1], time.Duration(delay)*time.Millisecond, time.Duration(every)*time.Millisecond, []byte(payload))
		if err != nil {
			return status(err)
		}
		return "set " + id
	case f[0] == "clear-id" && len(f) == 2:
		n, err := sdk.ClearTimer(f[1], "")
		if err != nil {
			return status(err)
		}
		return fmt.Sprintf("cleared %d", n)
	case f[0] == "clear-label" && len(f) == 2:
		n, err := sdk.ClearTimer("", f[1])
		if err != nil {
			return status(err)
		}
		return fmt.Sprintf("cleared %d", n)
	}
	return "error unknown command " + text
}

//go:wasmexport handle
func handle() int32 {
	return sdk.Handle(func(in *abi.HandleInput) (*abi.HandleOutput, error) {
		return &abi.HandleOutput{Replies: []abi.Reply{{Text: command(in.Combined)}}}, nil
	})
}

//go:wasmexport on_timer
func onTimer() int32 {
	return sdk.OnTimer(func(in *abi.TimerFired) error {
		if string(in.Payload) == "spin" {
			spin()
		}
		return sdk.Reply(fmt.Sprintf("fired %s %s %s in %s", in.TimerID, in.Label, in.Payload, in.Session))
	})
}
