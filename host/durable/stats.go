package durable

import (
	"context"
	"time"
)

// PartitionStats is one partition in this node's view.
type PartitionStats struct {
	Partition int `json:"partition"`
	// Owner is the node whose membership record lists the partition as
	// owned; empty when none does (idle partitions have no pin).
	Owner string `json:"owner,omitempty"`
	// Owned: this node owns it now.
	Owned   bool `json:"owned"`
	Pulling bool `json:"pulling"`
	// Sessions, Admitted and Held count this node's state for it.
	Sessions int `json:"sessions"`
	Admitted int `json:"admitted"`
	Held     int `json:"held"`
	// Lag is the messages stored and not yet delivered; AckPending the
	// delivered and not yet acked ones. Read from the server.
	Lag          uint64 `json:"lag"`
	AckPending   int    `json:"ack_pending"`
	Redeliveries int64  `json:"redeliveries"`
	GuardDrops   int64  `json:"guard_drops"`
	Fenced       int64  `json:"fenced"`
	GapSkips     int64  `json:"gap_skips"`
}

// Stats is the node's view of the durable queue.
type Stats struct {
	Node            string   `json:"node"`
	Live            []string `json:"live_nodes"`
	Accepted        int64    `json:"accepted"`
	Duplicates      int64    `json:"duplicates"`
	SkipMarkers     int64    `json:"skip_markers"`
	GuardDrops      int64    `json:"guard_drops"`
	Fenced          int64    `json:"fenced"`
	GapSkips        int64    `json:"gap_skips"`
	Redeliveries    int64    `json:"redeliveries"`
	Handoffs        int64    `json:"handoffs"`
	WatchdogGiveUps int64    `json:"watchdog_give_ups"`
	// StuckPins counts pins this node released because no live node held
	// them while messages waited.
	StuckPins  int64            `json:"stuck_pins_released"`
	Owned      int              `json:"owned_partitions"`
	Partitions []PartitionStats `json:"partitions"`
}

// Stats reads the node's counters and, within ctx, each partition's lag
// from the server (at most once a second per partition). A partition whose
// info cannot be read reports its last known lag.
func (n *Node) Stats(ctx context.Context) Stats {
	st := Stats{
		Node:            n.id,
		Live:            n.members.live(time.Now(), n.cfg.PinTTL),
		Accepted:        n.st.accepted.Load(),
		Duplicates:      n.st.duplicates.Load(),
		SkipMarkers:     n.st.skipMarkers.Load(),
		GuardDrops:      n.st.guardDrops.Load(),
		Fenced:          n.st.fenced.Load(),
		GapSkips:        n.st.gapSkips.Load(),
		Redeliveries:    n.st.redeliveries.Load(),
		Handoffs:        n.st.handoffs.Load(),
		WatchdogGiveUps: n.st.watchdogGiveUps.Load(),
		StuckPins:       n.st.stuckPins.Load(),
	}
	owners := n.members.owners(st.Live)
	for _, p := range n.parts {
		ps := PartitionStats{Partition: p.id, Owner: owners[p.id], Redeliveries: p.redeliveries.Load(),
			GuardDrops: p.guardDrops.Load(), Fenced: p.fenced.Load(), GapSkips: p.gapSkips.Load()}
		p.mu.Lock()
		ps.Owned, ps.Pulling, ps.Sessions = p.owned, p.cc != nil, len(p.sessions)
		for _, s := range p.sessions {
			ps.Admitted += len(s.pending)
			ps.Held += len(s.held)
		}
		p.mu.Unlock()
		if ps.Owned {
			st.Owned++
			if ps.Owner == "" {
				ps.Owner = n.id
			}
		}
		ps.Lag, ps.AckPending = p.lag(ctx)
		st.Partitions = append(st.Partitions, ps)
	}
	return st
}
