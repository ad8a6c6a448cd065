package gateway

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func scheduleStats(g *Gateway, name string) ScheduleStats {
	for _, s := range g.Stats().Schedules {
		if s.Name == name {
			return s
		}
	}
	return ScheduleStats{}
}

func TestScheduleSkipsWhileRunning(t *testing.T) {
	g, clk, sub := timerGateway(t, `
[[schedule]]
name = "slow"
every = "1s"
plugin = "timers"
session = "t:cron"
payload = "spin"
`)
	// The first run spins until its 300ms call timeout, so the tick one
	// second later, given at once on the Fake clock, finds it running.
	clk.Advance(time.Second)
	fired := nextEvent(t, sub, EventTimerFired)
	if fired.Session != "t:cron" || fired.Data["source"] != "schedule" || fired.Data["label"] != "slow" {
		t.Fatalf("timer.fired: session %q data %v, want t:cron, source schedule, label slow", fired.Session, fired.Data)
	}
	clk.Advance(time.Second)
	if s := scheduleStats(g, "slow"); s.Fired != 1 || s.Skipped != 1 {
		t.Fatalf("while running: fired %d skipped %d, want 1 and 1", s.Fired, s.Skipped)
	}

	waitFor(t, "first run failed", func() bool { return scheduleStats(g, "slow").Failed == 1 })
	clk.Advance(time.Second)
	if s := scheduleStats(g, "slow"); s.Fired != 2 || s.Skipped != 1 {
		t.Fatalf("after the run ended: fired %d skipped %d, want 2 and 1", s.Fired, s.Skipped)
	}
	waitFor(t, "second run failed", func() bool { return scheduleStats(g, "slow").Failed == 2 })
	if q := g.Stats().Queue.Lanes["cron"]; q.Queued+q.Active != 0 {
		t.Fatalf("cron lane still has %d queued and %d active tasks", q.Queued, q.Active)
	}
}

func TestScheduleCronAndHealthPayload(t *testing.T) {
	g, clk, sub := timerGateway(t, `
[[schedule]]
name = "beat"
cron = "*/5 * * * *"
plugin = "timers"
payload = "hb"
health = true
`)
	// The clock starts at 03:04:00, so the first due time is 03:05:00.
	clk.Advance(59 * time.Second)
	if s := scheduleStats(g, "beat"); s.Fired != 0 || s.Session != "schedule:beat" {
		t.Fatalf("before due: fired %d session %q, want 0 and schedule:beat", s.Fired, s.Session)
	}
	clk.Advance(time.Second)

	reply := nextEvent(t, sub, EventReply)
	// The reply is "fired ID LABEL PAYLOAD in SESSION", with no timer id
	// for a schedule.
	body, ok := strings.CutPrefix(reply.Text, "fired  beat ")
	if !ok {
		t.Fatalf("reply %q does not start with the schedule label", reply.Text)
	}
	body, _, _ = strings.Cut(body, " in schedule:beat")
	var h Health
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("payload %q is not Health JSON: %v", body, err)
	}
	if h.Payload != "hb" || !h.Time.Equal(clk.Now()) || len(h.Plugins) != 3 {
		t.Fatalf("health: payload %q time %v plugins %v, want hb, %v and 3 plugins", h.Payload, h.Time, h.Plugins, clk.Now())
	}
	waitFor(t, "schedule run ok", func() bool { return scheduleStats(g, "beat").OK == 1 })
}
