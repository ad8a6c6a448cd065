package replay_test

import (
	"fmt"
	"strings"

	"github.com/wasm-gateway/wasm-gateway/host/replay"
)

func ExampleParse() {
	const chatlog = "rust 2018-12-26 [10:19:00] <user-001> oh wait, I haven't tried --target nodejs\n" +
		"rust 2018-12-26 [10:25:20] <user-002> user-001: in later versions of node.js you can load WebAssembly\n" +
		"rust 2018-12-26 [10:26] * user-001 tries again\n" +
		"rust 2018-12-26 [25:00:00] <user-003> a bad hour\n"

	log, err := replay.Parse(strings.NewReader(chatlog), "rust.log")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range log.Messages {
		key, _ := replay.SessionKey(m, replay.BySpeaker)
		fmt.Printf("%s %s reply-to=%q action=%v\n", m.Time.Format("15:04:05"), key, m.ReplyTo, m.Action)
	}
	for _, r := range log.Rejected {
		fmt.Println(r)
	}
	// Output:
	// 10:19:00 irc:rust:user-001 reply-to="" action=false
	// 10:25:20 irc:rust:user-002 reply-to="user-001" action=false
	// 10:26:00 irc:rust:user-001 reply-to="" action=true
	// rust.log:4: invalid time "[25:00:00]": want [HH:MM:SS] or [HH:MM] on a 24-hour clock
}

func ExampleSynthetic() {
	msgs := replay.Synthetic(replay.SyntheticConfig{Seed: 1, Sessions: 3})
	speakers := map[string]bool{}
	for _, m := range msgs {
		speakers[m.Speaker] = true
	}
	fmt.Println(len(speakers), "speakers,", msgs[0].File, "file, first line", msgs[0].Line)
	// Output: 3 speakers, synthetic file, first line 1
}
