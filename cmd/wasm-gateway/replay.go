package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/host/gateway"
	"github.com/wasm-gateway/wasm-gateway/host/replay"
)

// replayOptions configure one replay.
type replayOptions struct {
	files     []string
	sessionBy string
	virtual   bool
	speed     float64
	plugin    string
	synthetic replay.SyntheticConfig
	drainWait time.Duration
	logger    *slog.Logger
}

// ReplaySummary is the summary that replay prints. Every message read is accounted
// for: MessagesRead = Delivered + IntakeRejected + Duplicates + NotRun +
// NotSubmitted.
type ReplaySummary struct {
	Files          []string       `json:"files"`
	Sessions       int            `json:"sessions"`
	MessagesRead   int            `json:"messages_read"`
	LinesRejected  int            `json:"lines_rejected"`
	RejectedLines  []string       `json:"rejected_lines,omitempty"`
	IntakeRejected int            `json:"intake_rejected"`
	IntakeReasons  map[string]int `json:"intake_reasons,omitempty"`
	Duplicates     int64          `json:"duplicates"`
	Delivered      int64          `json:"delivered"`
	Runs           int64          `json:"runs"`
	RunsSaved      int64          `json:"runs_saved"`
	Failures       int64          `json:"failures"`
	FailureReasons map[string]int `json:"failure_reasons,omitempty"`
	NotRun         int            `json:"not_run"`
	// NotSubmitted counts messages never offered because the replay was
	// interrupted.
	NotSubmitted int                            `json:"not_submitted"`
	NotRunIDs    []string                       `json:"not_run_ids,omitempty"`
	Replies      int64                          `json:"replies"`
	Latency      map[string]gateway.Percentiles `json:"latency"`
	Accounted    bool                           `json:"accounted"`
	Clock        string                         `json:"clock"`
	LogSpan      string                         `json:"log_span"`
	WallTime     string                         `json:"wall_time"`
}

func cmdReplay(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	cfgFile := fs.String("config", "", "gateway.toml to use (default: the embedded default)")
	sessionBy := fs.String("session-by", "speaker", "one session per \"speaker\" or per \"channel\"")
	virtual := fs.Bool("virtual", true, "run on a virtual clock, so hours of log replay in seconds")
	speed := fs.Float64("speed", 0, "with --virtual=false: replay at this multiple of real time (0: as fast as possible)")
	pluginName := fs.String("plugin", "", "plugin that handles every replayed session (default: the config's routing)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	synthetic := fs.Bool("synthetic", false, "replay the built-in synthetic bursty workload (the default when no FILE is given)")
	synSessions := fs.Int("synthetic-sessions", 20, "sessions in the synthetic workload")
	synSpan := fs.Duration("synthetic-span", 30*time.Minute, "time span of the synthetic workload")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn or error")
	schedules := fs.Bool("schedules", false, "keep the config's [[schedule]] entries; off by default because on a virtual clock a schedule fires through every gap between logs")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	log, err := newLogger("text", *logLevel)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgFile)
	if err != nil {
		return err
	}
	if !*schedules {
		cfg.Schedules = nil
	}
	opts := replayOptions{files: files, sessionBy: *sessionBy, virtual: *virtual, speed: *speed, plugin: *pluginName, logger: log,
		drainWait: 5 * time.Minute}
	if *synthetic || len(opts.files) == 0 {
		opts.files = nil
		opts.synthetic = replay.SyntheticConfig{Seed: 1, Sessions: *synSessions, Span: *synSpan}
		if err := opts.synthetic.WithDefaults().Validate(); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
	}
	sum, err := runReplay(ctx, cfg, opts)
	if err != nil {
		return err
	}
	return printSummary(os.Stdout, sum, *asJSON)
}

// replayItem is one message to submit, with its id and session.
type replayItem struct {
	msg     replay.Message
	id      string
	session string
}

// loadReplay parses the files (or makes the synthetic workload) and returns
// the messages in time order, ties kept in file order.
func loadReplay(opts replayOptions, sum *ReplaySummary) ([]replayItem, error) {
	var msgs []replay.Message
	if len(opts.files) == 0 {
		msgs = replay.Synthetic(opts.synthetic)
		sum.Files = []string{"synthetic"}
	}
	for _, f := range opts.files {
		lg, err := replay.ParseFile(f)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, lg.Messages...)
		sum.LinesRejected += len(lg.Rejected)
		for _, r := range lg.Rejected {
			sum.RejectedLines = append(sum.RejectedLines, r.String())
		}
		sum.Files = append(sum.Files, f)
	}
	sort.SliceStable(msgs, func(i, j int) bool { return msgs[i].Time.Before(msgs[j].Time) })

	items := make([]replayItem, 0, len(msgs))
	sessions := map[string]bool{}
	for _, m := range msgs {
		key, err := replay.SessionKey(m, opts.sessionBy)
		if err != nil {
			return nil, fmt.Errorf("%w: --session-by: %v", errUsage, err)
		}
		sessions[key] = true
		file := m.File
		if file == "" {
			file = "synthetic"
		}
		items = append(items, replayItem{msg: m, id: file + ":" + strconv.Itoa(m.Line), session: key})
	}
	sum.Sessions = len(sessions)
	sum.MessagesRead = len(items)
	return items, nil
}

func priorityOf(m replay.Message) int {
	switch {
	case m.ReplyTo != "":
		return 0 // a reply addressed to someone: Urgent
	case m.Bot:
		return 2
	}
	return 1
}

func runReplay(ctx context.Context, cfg *config.Config, opts replayOptions) (*ReplaySummary, error) {
	sum := &ReplaySummary{IntakeReasons: map[string]int{}, FailureReasons: map[string]int{}}
	items, err := loadReplay(opts, sum)
	if err != nil {
		return nil, err
	}
	if opts.plugin != "" {
		cfg.Routes = []config.Route{{Match: "*", Plugin: opts.plugin}}
	}

	var clk clock.Clock = clock.Real()
	var fake *clock.Fake
	if opts.virtual && len(items) > 0 {
		fake = clock.NewFake(items[0].msg.Time)
		clk = fake
		sum.Clock = "virtual"
	} else {
		sum.Clock = "real"
	}
	sys, err := boot(ctx, cfg, bootOptions{clock: clk, logger: opts.logger})
	if err != nil {
		return nil, err
	}
	gw := sys.gw
	sub := gw.Events().Subscribe(1<<16, func(e *gateway.Event) bool { return e.Type == gateway.EventRunFailed })
	defer sub.Close()

	wallStart := time.Now()
	var prev time.Time
	for i, it := range items {
		if ctx.Err() != nil {
			sum.NotSubmitted = len(items) - i
			break
		}
		switch {
		case fake != nil:
			advanceTo(ctx, fake, gw, it.msg.Time)
		case opts.speed > 0 && i > 0:
			if gap := it.msg.Time.Sub(prev); gap > 0 {
				sleepCtx(ctx, time.Duration(float64(gap)/opts.speed))
			}
		}
		prev = it.msg.Time
		_, err := gw.Submit(ctx, gateway.Inbound{Session: it.session, ID: it.id, Sender: it.msg.Speaker,
			Time: it.msg.Time, Text: it.msg.Text, Priority: priorityOf(it.msg), ReplyTo: it.msg.ReplyTo})
		if err != nil {
			sum.IntakeRejected++
			sum.IntakeReasons[err.Error()]++
		}
	}
	if len(items) > 0 {
		sum.LogSpan = items[len(items)-1].msg.Time.Sub(items[0].msg.Time).Round(time.Second).String()
	}

	// Close every window, then let the runs finish.
	if fake != nil {
		advanceTo(ctx, fake, gw, fake.Now().Add(time.Hour))
	}
	waitIdle(ctx, gw, fake, opts.drainWait)
	dctx, cancel := context.WithTimeout(context.Background(), opts.drainWait)
	report := sys.close(dctx)
	cancel()

	st := gw.Stats()
	sum.Duplicates = st.Messages.Duplicates
	sum.Delivered = st.Messages.Delivered
	sum.Runs = st.Runs.Started
	sum.RunsSaved = sum.Delivered - sum.Runs
	sum.Failures = st.Runs.Failed + st.Runs.Rejected
	sum.Replies = st.Runs.Replies
	sum.Latency = st.Latency
	sum.NotRun = len(report.NotRun)
	for _, n := range report.NotRun {
		sum.NotRunIDs = append(sum.NotRunIDs, n.ID)
	}
	for drained := false; !drained; {
		select {
		case ev := <-sub.C:
			sum.FailureReasons[shortReason(ev.Reason)]++
		default:
			drained = true
		}
	}
	sum.Accounted = int64(sum.MessagesRead) == sum.Delivered+int64(sum.IntakeRejected)+sum.Duplicates+int64(sum.NotRun)+int64(sum.NotSubmitted)
	sum.WallTime = time.Since(wallStart).Round(time.Millisecond).String()
	return sum, nil
}

// waitIdle waits until every accepted message has reached a run and no run
// is going, moving a virtual clock along so windows keep closing.
func waitIdle(ctx context.Context, gw *gateway.Gateway, fake *clock.Fake, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		st := gw.Stats()
		if st.Messages.Pending == 0 && st.Queue.Sessions.Active+st.Queue.Sessions.Waiting == 0 && st.Coalescer.PendingMessages == 0 {
			return
		}
		if fake != nil {
			wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			_ = gw.WaitIdle(wctx)
			cancel()
			fake.Advance(time.Second)
			continue
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// advanceTo moves a virtual clock to t one due timer at a time, letting
// the runs each step starts end before the next step, so runs take no
// virtual time and latencies measure waiting only.
func advanceTo(ctx context.Context, fake *clock.Fake, gw *gateway.Gateway, t time.Time) {
	for ctx.Err() == nil {
		if gw.WaitIdle(ctx) != nil {
			return
		}
		next, ok := fake.NextDue()
		if !ok || next.After(t) {
			fake.Set(t)
			return
		}
		fake.Set(next)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// shortReason trims a failure reason to its first line and 200 bytes, so
// equal causes group together.
func shortReason(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

func printSummary(w io.Writer, s *ReplaySummary, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	fmt.Fprintf(w, "replay of %s (%s clock, log span %s, wall time %s)\n", strings.Join(s.Files, ", "), s.Clock, s.LogSpan, s.WallTime)
	fmt.Fprintf(w, "  sessions:            %d\n", s.Sessions)
	fmt.Fprintf(w, "  messages read:       %d\n", s.MessagesRead)
	fmt.Fprintf(w, "  lines rejected:      %d\n", s.LinesRejected)
	for _, r := range s.RejectedLines {
		fmt.Fprintf(w, "    %s\n", r)
	}
	fmt.Fprintf(w, "  delivered to runs:   %d\n", s.Delivered)
	fmt.Fprintf(w, "  runs executed:       %d\n", s.Runs)
	fmt.Fprintf(w, "  runs saved (batch):  %d\n", s.RunsSaved)
	fmt.Fprintf(w, "  replies:             %d\n", s.Replies)
	fmt.Fprintf(w, "  duplicates:          %d\n", s.Duplicates)
	fmt.Fprintf(w, "  rejected at intake:  %d\n", s.IntakeRejected)
	for r, n := range s.IntakeReasons {
		fmt.Fprintf(w, "    %d x %s\n", n, r)
	}
	fmt.Fprintf(w, "  not run:             %d\n", s.NotRun)
	if s.NotSubmitted > 0 {
		fmt.Fprintf(w, "  not submitted:       %d (the replay was interrupted)\n", s.NotSubmitted)
	}
	fmt.Fprintf(w, "  failures:            %d\n", s.Failures)
	for r, n := range s.FailureReasons {
		fmt.Fprintf(w, "    %d x %s\n", n, r)
	}
	fmt.Fprintln(w, "  latency, acceptance to end of run (ms):")
	for _, p := range []string{"urgent", "normal", "background"} {
		if l, ok := s.Latency[p]; ok {
			fmt.Fprintf(w, "    %-10s n=%-6d p50=%-9.1f p90=%-9.1f p99=%-9.1f max=%.1f\n", p, l.Count, l.P50, l.P90, l.P99, l.Max)
		}
	}
	if s.Accounted {
		fmt.Fprintln(w, "  accounting: every message read is delivered, rejected with a reason, a duplicate or listed as not run")
		return nil
	}
	fmt.Fprintln(w, "  accounting: MISMATCH between messages read and their outcomes")
	return errors.New("replay accounting mismatch: some messages are unaccounted for")
}

func cmdDemo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "demo: building the example plugins into build/plugins")
	if err := buildPlugins("build/plugins"); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "demo: replaying a synthetic bursty chat workload (20 sessions, 30 minutes) through the embedded default on a virtual clock")
	return cmdReplay(ctx, []string{"--synthetic", fmt.Sprintf("--json=%v", *asJSON)})
}
