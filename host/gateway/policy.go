package gateway

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/coalesce"
	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/host/plugin"
	"github.com/wasm-gateway/wasm-gateway/host/timers"
)

// Backoff of the "reload" failure policy: the first re-instantiation waits
// reinstantiateFirst, each later one twice the previous, up to
// reinstantiateMax, until a run of the plugin succeeds.
const (
	reinstantiateFirst = time.Second
	reinstantiateMax   = time.Minute
)

// failurePolicies holds the state of the per-plugin failure policies. The
// zero value is ready to use and safe for concurrent use.
type failurePolicies struct {
	// unprocessed counts messages passed on by fail-open, and passedOn
	// counts the runs that carried them.
	unprocessed, passedOn atomic.Int64

	mu sync.Mutex
	// backoff is keyed by plugin name, and an entry exists once the plugin's
	// "reload" policy fired.
	backoff map[string]*reinstantiation
}

// reinstantiation is the backoff state of one plugin under "reload".
type reinstantiation struct {
	// attempts counts re-instantiations since the plugin's last
	// successful run.
	attempts int
	// pending is true while a re-instantiation timer is set.
	pending bool
}

// policyApplies reports whether err is a failure the plugin's failure
// policy handles: a trap, a timeout, a limit stop or a proc_exit of the
// guest. A guest that returns an error and a cancelled run are not.
func policyApplies(err error) (*plugin.CallError, bool) {
	var ce *plugin.CallError
	if !errors.As(err, &ce) {
		return nil, false
	}
	switch ce.Kind {
	case plugin.KindTrap, plugin.KindTimeout, plugin.KindLimit, plugin.KindExit:
		return ce, true
	}
	return nil, false
}

// applyFailurePolicy handles the failed call of run b under the policy of
// plugin pc. It returns true when the run counts as done (fail-open) and
// false when the run fails as usual.
func (g *Gateway) applyFailurePolicy(b *coalesce.Batch, rt route, pc config.Plugin, err error) bool {
	ce, ok := policyApplies(err)
	if !ok {
		return false
	}
	switch pc.FailurePolicy {
	case config.FailOpen:
		g.passOn(b, rt, ce)
		return true
	case config.FailReload:
		g.scheduleReinstantiate(rt.plugin)
	}
	return false
}

// passOn publishes the messages of run b as message.unprocessed, because
// the plugin failed on them under fail-open.
//
// NOTE: Stats.RunsByPlugin and the per-plugin run metrics count a passed-on
// run as ok, because run returns no error for it. Stats.Runs.PassedOn and
// the sandbox counters by kind show it.
func (g *Gateway) passOn(b *coalesce.Batch, rt route, ce *plugin.CallError) {
	g.sandbox.record(rt.tenant, ce.Kind)
	g.policy.passedOn.Add(1)
	g.policy.unprocessed.Add(int64(len(b.Messages)))
	texts := make([]string, len(b.Messages))
	for i, m := range b.Messages {
		texts[i] = m.Text
	}
	g.bus.Publish(Event{Type: EventPassThrough, Session: b.Session, Tenant: rt.tenant, RunID: b.RunID, Plugin: rt.plugin,
		MessageIDs: messageIDs(b), Text: b.Combined, Reason: ce.Error(), Kind: string(ce.Kind), Data: map[string]any{"texts": texts}})
	g.log.Warn("plugin failed; messages passed on unprocessed (fail-open)", "session", b.Session, "run", b.RunID,
		"plugin", rt.plugin, "tenant", rt.tenant, "kind", string(ce.Kind), "err", ce)
}

// runSucceeded resets the backoff of plugin name under "reload".
func (g *Gateway) runSucceeded(name string) {
	g.policy.mu.Lock()
	if st := g.policy.backoff[name]; st != nil {
		st.attempts = 0
	}
	g.policy.mu.Unlock()
}

// reinstantiateDelay is the wait before re-instantiation number attempts
// (counted from zero).
func reinstantiateDelay(attempts int) time.Duration {
	d := reinstantiateFirst
	for range attempts {
		d *= 2
		if d >= reinstantiateMax {
			return reinstantiateMax
		}
	}
	return d
}

// scheduleReinstantiate sets a timer that loads plugin name again from its
// file, which discards every instance of the failing version. At most one
// such timer per plugin is set at a time. A load that fails sets the next
// timer, with a doubled delay.
func (g *Gateway) scheduleReinstantiate(name string) {
	if g.draining.Load() {
		return
	}
	g.policy.mu.Lock()
	if g.policy.backoff == nil {
		g.policy.backoff = map[string]*reinstantiation{}
	}
	st := g.policy.backoff[name]
	if st == nil {
		st = &reinstantiation{}
		g.policy.backoff[name] = st
	}
	if st.pending {
		g.policy.mu.Unlock()
		return
	}
	delay := reinstantiateDelay(st.attempts)
	st.attempts++
	st.pending = true
	g.policy.mu.Unlock()

	owner := timers.Owner{Kind: timers.OwnerComponent, ID: "failure-policy"}
	_, err := g.timers.SetTimeout(owner, "plugin/reinstantiate/"+name, delay, func(ctx context.Context) error {
		g.policy.mu.Lock()
		st.pending = false
		g.policy.mu.Unlock()

		err := g.ReloadPlugin(ctx, name)
		if err != nil && !errors.Is(err, ErrPluginNotLoaded) {
			g.scheduleReinstantiate(name)
		}
		return err
	})
	if err != nil {
		g.policy.mu.Lock()
		st.pending = false
		g.policy.mu.Unlock()
		g.log.Warn("plugin re-instantiation not scheduled", "plugin", name, "err", err)
		return
	}
	g.log.Warn("plugin failed; re-instantiating it (failure_policy = reload)", "plugin", name, "delay", delay)
}
