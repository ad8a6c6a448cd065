// Package durable is the gateway's durable intake on NATS JetStream: an
// accepted message is stored before its caller hears 202, survives a crash,
// and runs once and in order per session on whichever node owns it.
//
// # Model
//
// A session hashes to one of P partitions. Intake assigns the message the
// session's next sequence number (a compare-and-swap on a per-session key),
// then stores it on the partition's subject gw.in.<P> of one work-queue
// stream. Every partition has one durable pull consumer with a pinned
// priority group: the server delivers the partition to one node (the pinned
// one) and hands it to another node when the pin is released or lapses.
//
// Nodes announce themselves in a membership bucket. For each partition the
// live nodes are ranked by rendezvous hashing, and only the top-ranked node
// and the current owner keep pull requests open. So when an owner unpins
// (on shutdown, or to hand a partition to a node that joined), the pin
// lands on the preferred node. When an owner dies, the next-ranked node
// starts pulling as soon as the dead node's membership record goes stale.
// Plugin timers (timers.go), shared records (records.go) and leases
// (lease.go) live in buckets of the same JetStream.
//
// # The per-session guard
//
// Delivery is at least once, so each session has a guard record (a KV key)
// holding the last sequence whose run finished and the claim of the run in
// progress. A node admits a session's messages to the gateway strictly in
// sequence order. An older sequence is a duplicate and is acked and
// dropped. A newer one waits behind the gap, kept alive with in-progress
// acks, until the missing one is redelivered or the gap times out. Before a
// run the node claims its sequence range by CAS, and after it the node
// records completion by CAS from the claim's revision. A completion whose
// CAS fails (another node re-claimed the range after this one lost the
// partition) is discarded, so
// a frozen or partitioned node cannot complete a run twice. A CAS whose
// reply is lost is resolved by reading the record back, never by guessing.
//
// Messages are acked only after the run that carried them is recorded as
// finished; runs longer than a fraction of the ack wait send in-progress
// acks.
package durable
