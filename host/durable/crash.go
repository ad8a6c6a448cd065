package durable

// Crash simulates a crash for benchmarks and tests: it drops the connection
// without handing anything off. Unlike Close it does not nak delivered
// messages, unpin partitions or delete the membership record, so the other
// nodes see what a kill -9 leaves behind. The node's unacked messages are
// redelivered after ack_wait. Its partitions move once its membership record
// is older than pin_ttl and its pins have lapsed, pin_ttl after its last
// pull.
//
// Crash then stops the node's goroutines and waits for them, so a process
// that goes on running leaks nothing. Accept returns ErrStopped afterwards,
// and Close does nothing.
func (n *Node) Crash() {
	if n.closed.Swap(true) {
		return
	}
	n.stopped.Store(true)

	// The connection goes first: a handoff still in flight then fails to
	// unpin instead of handing its partition over.
	n.nc.Close()
	n.cancel()
	for _, p := range n.parts {
		p.stopPulling()
	}
	n.wg.Wait()
}
