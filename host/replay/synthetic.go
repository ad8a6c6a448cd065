package replay

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// SyntheticFile is the File of every message Synthetic returns.
const SyntheticFile = "synthetic"

// Limits checked by SyntheticConfig.Validate. maxSyntheticMessages bounds
// the expected message count (see expectedMessages), about 2 GB of Messages.
const (
	maxSyntheticSessions = 10000
	maxSyntheticSpan     = 7 * 24 * time.Hour
	maxSyntheticBurst    = 100
	maxSyntheticMessages = 10_000_000
)

// SyntheticConfig shapes the workload Synthetic generates. The zero value
// selects every default. It decodes from TOML with the keys in the tags.
type SyntheticConfig struct {
	// Seed selects the random sequence. Equal configs give equal workloads.
	// Zero is a valid seed.
	Seed uint64 `toml:"seed"`
	// Sessions is the number of speakers, one session each. Default 8 when
	// zero. At most 10000.
	Sessions int `toml:"sessions"`
	// Channel is the channel of every message. Default "demo" when empty.
	Channel string `toml:"channel"`
	// Start is the earliest message time. Default 2024-01-01T00:00:00Z when
	// zero, so that a workload does not depend on the day it is made.
	Start time.Time `toml:"start"`
	// Span is how long after Start messages may arrive. Default 10m when
	// zero. At most 168h.
	Span time.Duration `toml:"span"`
	// BurstMin and BurstMax bound the number of messages in one burst,
	// chosen uniformly. Defaults 1 and 5 when zero. BurstMax is at most 100.
	BurstMin int `toml:"burst_min"`
	BurstMax int `toml:"burst_max"`
	// MessageGapMin and MessageGapMax bound the time between messages of one
	// burst, chosen uniformly. Defaults 500ms and 3s when both are zero.
	MessageGapMin time.Duration `toml:"message_gap_min"`
	MessageGapMax time.Duration `toml:"message_gap_max"`
	// BurstGapMin and BurstGapMax bound the quiet time between the last
	// message of a burst and the first of the next, chosen uniformly.
	// Defaults 20s and 60s when both are zero.
	BurstGapMin time.Duration `toml:"burst_gap_min"`
	BurstGapMax time.Duration `toml:"burst_gap_max"`
	// ReplyRate is the probability, from 0 to 1, that a message is a reply
	// to one of the last five other speakers. Default 0.2 when zero; a
	// negative value means no replies.
	ReplyRate float64 `toml:"reply_rate"`
}

// WithDefaults returns c with each zero field set to its documented default.
func (c SyntheticConfig) WithDefaults() SyntheticConfig {
	if c.Sessions == 0 {
		c.Sessions = 8
	}
	if c.Channel == "" {
		c.Channel = "demo"
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if c.Span == 0 {
		c.Span = 10 * time.Minute
	}
	if c.BurstMin == 0 {
		c.BurstMin = 1
	}
	if c.BurstMax == 0 {
		c.BurstMax = max(5, c.BurstMin)
	}
	if c.MessageGapMin == 0 && c.MessageGapMax == 0 {
		c.MessageGapMin, c.MessageGapMax = 500*time.Millisecond, 3*time.Second
	}
	if c.BurstGapMin == 0 && c.BurstGapMax == 0 {
		c.BurstGapMin, c.BurstGapMax = 20*time.Second, 60*time.Second
	}
	if c.ReplyRate == 0 {
		c.ReplyRate = 0.2
	}
	return c
}

// Validate reports every invalid field of c at once, naming its key. Call it
// on c.WithDefaults() to check a config where zero means default.
func (c SyntheticConfig) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.Sessions < 1 || c.Sessions > maxSyntheticSessions {
		add("synthetic: sessions = %d is invalid: set it from 1 to %d", c.Sessions, maxSyntheticSessions)
	}
	if c.Channel == "" || strings.ContainsAny(c.Channel, " \t\r\n") {
		add("synthetic: channel = %q is invalid: set a name without white space", c.Channel)
	}
	if c.Span <= 0 || c.Span > maxSyntheticSpan {
		add("synthetic: span = %s is invalid: set it above 0 and at most %s", c.Span, maxSyntheticSpan)
	}
	if c.BurstMin < 1 {
		add("synthetic: burst_min = %d is invalid: set it to 1 or more", c.BurstMin)
	}
	if c.BurstMax < c.BurstMin || c.BurstMax > maxSyntheticBurst {
		add("synthetic: burst_max = %d is invalid: set it from burst_min (%d) to %d", c.BurstMax, c.BurstMin, maxSyntheticBurst)
	}
	if c.MessageGapMin < 0 {
		add("synthetic: message_gap_min = %s is invalid: set it to 0 or more", c.MessageGapMin)
	}
	if c.MessageGapMax <= 0 || c.MessageGapMax < c.MessageGapMin {
		add("synthetic: message_gap_max = %s is invalid: set it above 0 and at least message_gap_min (%s)", c.MessageGapMax, c.MessageGapMin)
	}
	if c.BurstGapMin < 0 {
		add("synthetic: burst_gap_min = %s is invalid: set it to 0 or more", c.BurstGapMin)
	}
	if c.BurstGapMax <= 0 || c.BurstGapMax < c.BurstGapMin {
		add("synthetic: burst_gap_max = %s is invalid: set it above 0 and at least burst_gap_min (%s)", c.BurstGapMax, c.BurstGapMin)
	}
	if math.IsNaN(c.ReplyRate) || c.ReplyRate > 1 {
		add("synthetic: reply_rate = %v is invalid: set it from 0 to 1, or negative for no replies", c.ReplyRate)
	}
	if len(errs) == 0 {
		if n := c.expectedMessages(); n > maxSyntheticMessages {
			add("synthetic: sessions, span and the gaps give about %.3g messages, more than %d: lower sessions or span, or raise burst_gap_min",
				n, maxSyntheticMessages)
		}
	}
	return errors.Join(errs...)
}

// expectedMessages estimates how many messages Synthetic returns for c, from
// the mean burst size and the mean time from one burst to the next. It is
// +Inf when every gap may be zero.
func (c SyntheticConfig) expectedMessages() float64 {
	meanSize := float64(c.BurstMin+c.BurstMax) / 2
	meanMessageGap := float64(c.MessageGapMin+c.MessageGapMax) / 2
	meanBurstGap := float64(c.BurstGapMin+c.BurstGapMax) / 2
	cycle := meanSize*meanMessageGap + meanBurstGap
	if cycle <= 0 {
		return math.Inf(1)
	}
	return float64(c.Sessions) * meanSize * (float64(c.Span)/cycle + 1)
}

// Synthetic generates a bursty chat workload from cfg.WithDefaults().
//
// Each of the Sessions speakers ("user-001", ...) starts within the first
// BurstGapMax and then alternates bursts of BurstMin..BurstMax messages,
// MessageGapMin..MessageGapMax apart, with quiet gaps of
// BurstGapMin..BurstGapMax, until Start+Span. About ReplyRate of the messages
// address a recent other speaker as "user-004: ..." and have ReplyTo set, so
// FormatLine followed by Parse finds the same replies. The result is sorted
// by Time (ties by speaker), with times in whole milliseconds and Line
// numbered from 1 in that order.
//
// Equal configs give equal results. Synthetic panics when
// cfg.WithDefaults().Validate() fails: call Validate first on a config that
// comes from user input.
func Synthetic(cfg SyntheticConfig) []Message {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		panic(fmt.Sprintf("replay.Synthetic: invalid config: %v", err))
	}

	var msgs []Message
	end := cfg.Start.Add(cfg.Span)
	for s := range cfg.Sessions {
		// A stream per session keeps each session's arrivals unchanged when
		// Sessions grows.
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(s)+1))
		speaker := syntheticSpeaker(s)
		t := cfg.Start.Add(uniform(rng, 0, cfg.BurstGapMax))
		for burst := 1; t.Before(end); burst++ {
			size := cfg.BurstMin + rng.IntN(cfg.BurstMax-cfg.BurstMin+1)
			for k := 1; k <= size && t.Before(end); k++ {
				msgs = append(msgs, Message{
					File:    SyntheticFile,
					Channel: cfg.Channel,
					Time:    t,
					Speaker: speaker,
					Text:    syntheticText(rng, burst, k, size),
				})
				t = t.Add(uniform(rng, cfg.MessageGapMin, cfg.MessageGapMax))
			}
			t = t.Add(uniform(rng, cfg.BurstGapMin, cfg.BurstGapMax))
		}
	}

	// The speakers were generated in order, so a stable sort breaks time
	// ties by speaker.
	sort.SliceStable(msgs, func(i, j int) bool { return msgs[i].Time.Before(msgs[j].Time) })
	addReplies(msgs, cfg)
	for i := range msgs {
		msgs[i].Line = i + 1
	}
	return msgs
}

// addReplies turns about cfg.ReplyRate of msgs, which are in time order,
// into replies to one of the last five other speakers seen before them.
func addReplies(msgs []Message, cfg SyntheticConfig) {
	if cfg.ReplyRate <= 0 {
		return
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0))
	var recent []string // most recent speaker last, without repeats
	for i := range msgs {
		m := &msgs[i]
		var others []string
		for j := len(recent) - 1; j >= 0 && len(others) < 5; j-- {
			if recent[j] != m.Speaker {
				others = append(others, recent[j])
			}
		}
		if len(others) > 0 && rng.Float64() < cfg.ReplyRate {
			m.ReplyTo = others[rng.IntN(len(others))]
			m.Text = m.ReplyTo + ": " + m.Text
		}

		for j, s := range recent {
			if s == m.Speaker {
				recent = append(recent[:j], recent[j+1:]...)
				break
			}
		}
		recent = append(recent, m.Speaker)
	}
}

func syntheticSpeaker(session int) string { return fmt.Sprintf("user-%03d", session+1) }

var syntheticTopics = []string{
	"how do I retry a failed webhook",
	"the build fails after the upgrade",
	"is there a limit on batch size",
	"thanks, that worked",
	"can you paste the full error",
	"which version are you running",
	"try clearing the cache first",
	"the docs say it should be idempotent",
}

func syntheticText(rng *rand.Rand, burst, k, size int) string {
	topic := syntheticTopics[rng.IntN(len(syntheticTopics))]
	return fmt.Sprintf("%s (burst %d, %d/%d)", topic, burst, k, size)
}

// uniform returns a duration in [lo, hi], in whole milliseconds when the
// range allows.
func uniform(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	d := lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
	if rounded := d.Truncate(time.Millisecond); rounded >= lo {
		return rounded
	}
	return d
}
