package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasm-gateway/wasm-gateway/host/durable"
)

// DurableSource is the optional part of a Source that reports the durable
// queue, implemented by *gateway.Gateway. With the memory backend ok is
// false and the collector exports no durable series.
type DurableSource interface {
	DurableStats(ctx context.Context) (st durable.Stats, ok bool)
}

// durableScrapeTimeout bounds reading the durable queue's stats in one
// scrape, because the node requests each partition's lag from the NATS
// server. A partition not read in time reports zero lag.
const durableScrapeTimeout = 2 * time.Second

// Durable queue series. Every series carries the node that reports it, so
// the scrapes of several nodes can be summed or compared.
var (
	descDurOwned      = desc("durable_partition_owned", "1 while this node owns the partition and delivers its messages, else 0.", "node", "partition")
	descDurLag        = desc("durable_partition_lag", "Messages stored in the partition and not yet delivered to any node.", "node", "partition")
	descDurAckPending = desc("durable_partition_ack_pending", "Messages of the partition delivered and not yet acked.", "node", "partition")
	descDurRedeliver  = desc("durable_partition_redeliveries_total", "Deliveries to this node of a message delivered before.", "node", "partition")
	descDurGuardDrops = desc("durable_partition_guard_drops_total", "Deliveries dropped by the session guard because their sequence had run.", "node", "partition")
	descDurFenced     = desc("durable_partition_fenced_total", "Runs whose completion lost to another node that took the session over.", "node", "partition")
	descDurGapSkips   = desc("durable_partition_gap_skips_total", "Missing sequences given up after gap_timeout.", "node", "partition")

	descDurAccepted   = desc("durable_accepted_total", "Messages this node stored in the durable queue.", "node")
	descDurDuplicates = desc("durable_duplicates_total", "Messages this node found stored before, by session and id.", "node")
	descDurHandoffs   = desc("durable_handoffs_total", "Partitions this node handed to a preferred node or released on shutdown.", "node")
	descDurOwnedParts = desc("durable_owned_partitions", "Partitions this node owns now.", "node")
	descDurLive       = desc("durable_live_nodes", "Nodes whose membership record is fresh, as this node sees them.", "node")
)

var durableDescs = []*prometheus.Desc{
	descDurOwned, descDurLag, descDurAckPending, descDurRedeliver, descDurGuardDrops, descDurFenced, descDurGapSkips,
	descDurAccepted, descDurDuplicates, descDurHandoffs, descDurOwnedParts, descDurLive,
}

// collectDurable sends the durable queue's series when the source has a
// durable queue.
func (c *Collector) collectDurable(gauge, counter emit) {
	src, ok := c.src.(DurableSource)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), durableScrapeTimeout)
	defer cancel()
	st, ok := src.DurableStats(ctx)
	if !ok {
		return
	}
	node := st.Node
	counter(descDurAccepted, float64(st.Accepted), node)
	counter(descDurDuplicates, float64(st.Duplicates), node)
	counter(descDurHandoffs, float64(st.Handoffs), node)
	gauge(descDurOwnedParts, float64(st.Owned), node)
	gauge(descDurLive, float64(len(st.Live)), node)
	for _, p := range st.Partitions {
		part := strconv.Itoa(p.Partition)
		gauge(descDurOwned, boolFloat(p.Owned), node, part)
		gauge(descDurLag, float64(p.Lag), node, part)
		gauge(descDurAckPending, float64(p.AckPending), node, part)
		counter(descDurRedeliver, float64(p.Redeliveries), node, part)
		counter(descDurGuardDrops, float64(p.GuardDrops), node, part)
		counter(descDurFenced, float64(p.Fenced), node, part)
		counter(descDurGapSkips, float64(p.GapSkips), node, part)
	}
}
