package main

import (
	"maps"
	"slices"
	"strconv"

	"github.com/proxywhirl/retrycoord/cluster"
	"github.com/proxywhirl/retrycoord/coord/api"
	"github.com/proxywhirl/retrycoord/coord/forward"
	"github.com/proxywhirl/retrycoord/state/redisledger"
)

// clusterMembers shows a cluster node's members to the admin API.
func clusterMembers(node *cluster.Node) api.Members {
	return api.MembersFunc(func() []api.Member {
		ms := node.MemberStates()
		out := make([]api.Member, len(ms))
		for i, m := range ms {
			out[i] = api.Member{Name: m.Name, Addr: m.Addr, State: m.State, Suspect: m.Suspect}
		}
		return out
	})
}

func counter(name, help string, v uint64) api.Stat {
	return api.Stat{Name: name, Help: help, Kind: api.Counter, Value: float64(v)}
}

func gauge(name, help string, v float64) api.Stat {
	return api.Stat{Name: name, Help: help, Kind: api.Gauge, Value: v}
}

// clusterStats publishes a cluster node's counters.
type clusterStats struct{ node *cluster.Node }

func (c clusterStats) CollectStats() []api.Stat {
	s := c.node.Stats()
	suspect := 0.0
	if s.Suspect {
		suspect = 1
	}
	out := []api.Stat{
		gauge("retrycoord_gossip_members", "Alive members of the fleet, this node included.", float64(s.Members)),
		gauge("retrycoord_gossip_suspect", "1 when the poison guard suspects this node's own network.", suspect),
		gauge("retrycoord_gossip_broadcast_queue", "Named broadcasts waiting to be gossiped.", float64(s.BroadcastQueue)),
		counter("retrycoord_gossip_published_total", "Records handed to the cluster for sending.", s.Published),
		counter("retrycoord_gossip_publish_dropped_total", "Records dropped because the send queue was full.", s.PublishDropped),
		counter("retrycoord_gossip_facts_caught_up_total", "Own facts (pool entries, the policy) sent again from the table after the send queue dropped changes.", s.FactsCaughtUp),
		counter("retrycoord_gossip_packets_sent_total", "Best-effort fan-out and evidence packets sent.", s.PacketsSent),
		counter("retrycoord_gossip_reliable_sends_total", "Batches sent reliably (bursts).", s.ReliableSends),
		counter("retrycoord_gossip_send_errors_total", "Sends memberlist refused.", s.SendErrors),
		counter("retrycoord_gossip_messages_received_total", "Messages received from other nodes.", s.MessagesReceived),
		counter("retrycoord_gossip_pushpull_facts_cut_total", "Push/pull states sent with part of the pool and policy facts: they were over the budget, the rest goes in later exchanges.", s.PushPullFactsCut),
		counter("retrycoord_gossip_inbox_dropped_total", "Messages dropped because the inbound queue was full.", s.InboxDropped),
		counter("retrycoord_gossip_malformed_total", "Messages that did not decode.", s.Malformed),
		counter("retrycoord_gossip_unknown_kind_total", "Messages or records of an unknown kind.", s.UnknownKind),
		counter("retrycoord_gossip_unknown_version_total", "Messages of an unknown version.", s.UnknownVersion),
		counter("retrycoord_gossip_records_changed_total", "Remote records that changed this node's table.", s.RecordsChanged),
		counter("retrycoord_gossip_records_stale_total", "Remote records this node already had.", s.RecordsStale),
		counter("retrycoord_gossip_suspect_ignored_total", "Trips and evidence ignored from suspect nodes.", s.SuspectIgnored),
		counter("retrycoord_gossip_trips_withheld_total", "Own trips not sent while this node is suspect.", s.TripsWithheld),
		counter("retrycoord_gossip_trips_unconfirmed_total", "Remote trips held until enough nodes confirm them.", s.TripsUnconfirmed),
		counter("retrycoord_evidence_sent_total", "Failure-evidence entries sent.", s.EvidenceSent),
		counter("retrycoord_evidence_merged_total", "Failure-evidence entries merged from other nodes.", s.EvidenceMerged),
		counter("retrycoord_evidence_trips_total", "Trips caused by the fleet's failure evidence.", s.EvidenceTripped),
		counter("retrycoord_budget_counts_sent_total", "Retry budget counts (one per site) sent to other nodes.", s.BudgetSent),
		counter("retrycoord_budget_counts_merged_total", "Retry budget counts received from other nodes.", s.BudgetMerged),
		counter("retrycoord_latency_sketches_sent_total", "Latency sketches (one per site) sent to other nodes.", s.SketchesSent),
		counter("retrycoord_latency_sketches_merged_total", "Latency sketches received from other nodes.", s.SketchesMerged),
	}
	// The propagation delay as cumulative buckets, Prometheus-style.
	var cum uint64
	for i, n := range s.Propagation.Counts {
		cum += n
		le := "+Inf"
		if i < len(s.Propagation.Bounds) {
			le = strconv.FormatFloat(s.Propagation.Bounds[i].Seconds(), 'g', -1, 64)
		}
		st := counter("retrycoord_gossip_propagation_seconds_bucket",
			"Remote records that changed this table, by delay from their origin's clock, cumulative.", cum)
		st.Labels = map[string]string{"le": le}
		out = append(out, st)
	}
	return out
}

// ledgerStats publishes the Redis ledger's counters.
type ledgerStats struct{ ledger *redisledger.Ledger }

func (l ledgerStats) CollectStats() []api.Stat {
	s := l.ledger.Stats()
	up := 0.0
	if l.ledger.Healthy() {
		up = 1
	}
	return []api.Stat{
		gauge("retrycoord_ledger_up", "1 while Redis answers.", up),
		counter("retrycoord_ledger_dropped_total", "Records dropped because the write queue was full.", s.Dropped),
		counter("retrycoord_ledger_applied_total", "Writes that changed the ledger.", s.Applied),
		counter("retrycoord_ledger_stale_total", "Writes the ledger rejected as older.", s.Stale),
		counter("retrycoord_ledger_failed_total", "Writes that failed (re-asserted later).", s.Failed),
		counter("retrycoord_ledger_received_total", "Records from the ledger that changed this node's table.", s.Received),
		counter("retrycoord_ledger_invalid_total", "Undecodable records or stream entries.", s.Invalid),
		counter("retrycoord_ledger_outages_total", "Times Redis became unreachable.", s.Outages),
		counter("retrycoord_ledger_reconciled_total", "Records re-asserted after an outage or drops.", s.Reconciled),
	}
}

// forwardStats publishes the forward proxy's counters.
type forwardStats struct{ proxy *forward.Proxy }

func (f forwardStats) CollectStats() []api.Stat {
	s := f.proxy.Stats()
	out := []api.Stat{
		counter("retrycoord_forward_requests_total", "Requests to the forward proxy, CONNECT included.", s.Requests),
		counter("retrycoord_forward_tunnels_total", "Blind CONNECT tunnels established (not intercepted).", s.Tunnels),
		gauge("retrycoord_forward_active_tunnels", "CONNECT tunnels open now.", float64(s.ActiveTunnels)),
		counter("retrycoord_forward_bad_requests_total", "Requests answered 400.", s.BadRequests),
		counter("retrycoord_forward_auth_failures_total", "Requests answered 407.", s.AuthFailures),
		counter("retrycoord_forward_no_upstream_total", "Requests answered 503: no eligible upstream.", s.NoUpstream),
		counter("retrycoord_forward_gave_up_total", "Requests answered 502: retries used up.", s.GaveUp),
		counter("retrycoord_forward_canceled_total", "Requests whose client went away first.", s.Canceled),
	}
	in := s.Intercept
	out = append(out,
		counter("retrycoord_forward_mitm_connections_total", "Client connections intercepted (TLS handshake done).", in.Connections),
		counter("retrycoord_forward_mitm_requests_total", "Requests served on intercepted connections.", in.Requests),
		counter("retrycoord_forward_mitm_leaves_issued_total", "Leaf certificates signed by the interception CA.", in.LeavesIssued),
		gauge("retrycoord_forward_mitm_leaves", "Leaf certificates cached now.", float64(in.Leaves)),
	)
	for _, cause := range slices.Sorted(maps.Keys(in.HandshakeFailures)) {
		st := counter("retrycoord_forward_mitm_handshake_failures_total",
			"Failed TLS handshakes with intercepted clients, by cause (untrusted: the client does not trust the CA).", in.HandshakeFailures[cause])
		st.Labels = map[string]string{"cause": cause}
		out = append(out, st)
	}
	for _, v := range slices.Sorted(maps.Keys(in.OriginCert)) {
		st := counter("retrycoord_forward_mitm_origin_cert_failures_total",
			"Origin certificates that did not verify through an upstream, by verdict: proxy, site or unknown (yet).", in.OriginCert[v])
		st.Labels = map[string]string{"verdict": v}
		out = append(out, st)
	}
	return out
}
