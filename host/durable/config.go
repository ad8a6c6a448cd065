package durable

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// Queue backends, the values of queue.backend.
const (
	// BackendMemory keeps accepted messages in process memory only.
	BackendMemory = "memory"
	// BackendJetStream stores accepted messages in NATS JetStream.
	BackendJetStream = "jetstream"
)

// Sync policies, the values of queue.jetstream.sync.
const (
	// SyncAlways fsyncs the embedded server's store on every write.
	SyncAlways = "always"
	// SyncInterval fsyncs the store every SyncInterval.
	SyncInterval = "interval"
)

// Config is the [queue.jetstream] table of gateway.toml. Durations are TOML
// strings ("5s"). Every zero field means "use the default"; WithDefaults
// fills them and Validate names each bad value and its fix.
type Config struct {
	// URLs are the NATS servers to join, such as
	// ["nats://127.0.0.1:4222"]. Empty runs an embedded server in process.
	URLs []string `toml:"urls"`
	// StoreDir is the embedded server's file store. Default
	// "data/jetstream". Ignored with URLs.
	StoreDir string `toml:"store_dir"`
	// Listen, when set, also serves the embedded server to other processes
	// on this host:port (loopback unless allow_non_loopback). Default: in
	// process only.
	Listen string `toml:"listen"`
	// AllowNonLoopback lets Listen bind a non-loopback address.
	AllowNonLoopback bool `toml:"allow_non_loopback"`
	// Sync is the embedded server's fsync policy. "always" fsyncs every
	// write, which is crash safe and made intake 5 to 11 times slower in the
	// durable-intake bench row. "interval" (default) fsyncs every
	// SyncInterval, so a machine crash (not a process crash) can lose the
	// writes of the last interval. External servers use their own policy.
	Sync string `toml:"sync"`
	// SyncInterval is the fsync period with sync = "interval". Default 1s.
	SyncInterval time.Duration `toml:"sync_interval"`
	// Partitions is how many partitions sessions hash to. Default 64. Every
	// node of a cluster must use the same value.
	Partitions int `toml:"partitions"`
	// Replicas is the stream and bucket replication factor on a clustered
	// NATS. Default 1.
	Replicas int `toml:"replicas"`
	// PinTTL is how long a partition stays pinned to an owner that stopped
	// pulling, so it bounds the failover time. Default 5s, at least 3s.
	PinTTL time.Duration `toml:"pin_ttl"`
	// AckWait is how long a delivered message may go without an ack or an
	// in-progress ack before it is redelivered. Default 5s, at least 1s.
	AckWait time.Duration `toml:"ack_wait"`
	// GapTimeout is how long a session's message waits for a missing
	// earlier sequence before the missing one is taken as never stored
	// (its intake failed and its caller got an error). Default 30s, at
	// least 3 * AckWait.
	GapTimeout time.Duration `toml:"gap_timeout"`
	// Watchdog gives up an owned partition when it has work waiting and no
	// run in it has finished for this long. Default 10m; set it above the
	// longest run.
	Watchdog time.Duration `toml:"watchdog"`
	// NodeID names this node in the cluster. Default: host name and
	// process id.
	NodeID string `toml:"node_id"`
	// Prefix names the stream ("<PREFIX>_INTAKE"), the buckets and the
	// subjects, so several gateways can share one NATS. Default "GW".
	Prefix string `toml:"prefix"`
}

// WithDefaults returns a copy of c with every zero field set.
func (c Config) WithDefaults() Config {
	if c.StoreDir == "" {
		c.StoreDir = "data/jetstream"
	}
	if c.Sync == "" {
		c.Sync = SyncInterval
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = time.Second
	}
	if c.Partitions == 0 {
		c.Partitions = 64
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.PinTTL == 0 {
		c.PinTTL = 5 * time.Second
	}
	if c.AckWait == 0 {
		c.AckWait = 5 * time.Second
	}
	if c.GapTimeout == 0 {
		c.GapTimeout = max(30*time.Second, 3*c.AckWait)
	}
	if c.Watchdog == 0 {
		c.Watchdog = 10 * time.Minute
	}
	if c.NodeID == "" {
		host, _ := os.Hostname()
		c.NodeID = fmt.Sprintf("%s-%d", tokenRE.ReplaceAllString(host, "_"), os.Getpid())
	}
	if c.Prefix == "" {
		c.Prefix = "GW"
	}
	return c
}

var tokenRE = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// Validate reports every bad value, each naming its key under prefix (such
// as "queue.jetstream").
func (c Config) Validate(prefix string) error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(prefix+"."+format, args...))
	}
	for _, u := range c.URLs {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "nats" && pu.Scheme != "tls") || pu.Hostname() == "" {
			add("urls: %q is not a NATS URL with a host: write it like \"nats://127.0.0.1:4222\"", u)
		}
	}
	if len(c.URLs) > 0 && c.Listen != "" {
		add("listen = %q is for the embedded server, which urls replaces: remove one of them", c.Listen)
	}
	if c.Listen != "" {
		host, _, err := net.SplitHostPort(c.Listen)
		if err != nil {
			add("listen = %q is not host:port: write it like \"127.0.0.1:4222\"", c.Listen)
		} else if ip := net.ParseIP(host); !c.AllowNonLoopback && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			add("listen = %q is not a loopback address: set allow_non_loopback = true to serve NATS on it", c.Listen)
		}
	}
	if c.Sync != SyncAlways && c.Sync != SyncInterval {
		add("sync = %q is not a sync policy: use %q or %q", c.Sync, SyncAlways, SyncInterval)
	}
	if c.SyncInterval < 0 {
		add("sync_interval = %v is negative: use a positive duration such as \"1s\"", c.SyncInterval)
	}
	if c.Partitions < 1 || c.Partitions > 4096 {
		add("partitions = %d is out of range: use 1 to 4096 (default 64)", c.Partitions)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		add("replicas = %d is out of range: use 1 to 5", c.Replicas)
	}
	if c.PinTTL < 3*time.Second {
		add("pin_ttl = %v is too short: use at least a quoted \"3s\", because pulls renew the pin every pin_ttl/3 and a pull lasts at least 1s (a bare number is nanoseconds)", c.PinTTL)
	}
	if c.AckWait < time.Second {
		add("ack_wait = %v is too short: use at least a quoted \"1s\" (a bare number is nanoseconds)", c.AckWait)
	}
	if c.GapTimeout < 3*c.AckWait {
		add("gap_timeout = %v is shorter than 3 * ack_wait (%v): a redelivery could arrive after its gap was given up; raise it", c.GapTimeout, 3*c.AckWait)
	}
	if c.Watchdog <= 0 {
		add("watchdog = %v is not positive: use a duration above the longest run, such as \"10m\"", c.Watchdog)
	}
	if c.NodeID == "" || tokenRE.MatchString(c.NodeID) {
		add("node_id = %q may use only letters, digits, '-' and '_': rename the node", c.NodeID)
	}
	if c.Prefix == "" || tokenRE.MatchString(c.Prefix) {
		add("prefix = %q may use only letters, digits, '-' and '_'", c.Prefix)
	}
	return errors.Join(errs...)
}

// names are the NATS names derived from a Config.
type names struct {
	stream, subjectPrefix, schedPrefix, timersBucket, recordsBucket, guardBucket, seqBucket, nodesBucket, leaseBucket, runsStream, runsSubject, group string
}

func (c Config) names() names {
	p := c.Prefix
	lp := strings.ToLower(p)
	return names{
		stream:        p + "_INTAKE",
		subjectPrefix: lp + ".in.",
		schedPrefix:   lp + ".sched.",
		timersBucket:  p + "_TIMERS",
		recordsBucket: p + "_RECORDS",
		guardBucket:   p + "_GUARD",
		seqBucket:     p + "_SEQ",
		nodesBucket:   p + "_NODES",
		leaseBucket:   p + "_LEASES",
		runsStream:    p + "_RUNS",
		runsSubject:   lp + ".runs.",
		group:         "owner",
	}
}

func (n names) consumer(p int) string { return fmt.Sprintf("p%d", p) }
func (n names) subject(p int) string  { return fmt.Sprintf("%s%d", n.subjectPrefix, p) }
