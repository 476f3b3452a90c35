#pragma once
// The Lua scripts of queue_redis. Each runs atomically in Redis, so every state
// transition (and its stream / sorted-set bookkeeping) is all-or-nothing, whichever
// host of the cluster runs it. Key layout under the configured prefix P:
//   P stream:<agent>   the agent's stream (consumer group "g"; one entry per
//                      unfinished command: finished entries are XACKed and XDELed, so
//                      XLEN is the agent's depth and nothing live is ever trimmed)
//   P cmd:<id>         hash: the command record (id agent name args state attempts
//                      created updated deadline entry seq)
//   P all, P agent:<agent>   sorted sets id by enqueue sequence (list, newest first)
//   P due              sorted set id -> redelivery due time (ms)
//   P deadlines        sorted set id -> deadline (ms)
//   P done             list of finished ids, oldest first (retention)
//   P dead             the dead-letter stream (MAXLEN ~ dead_letter_max)
//   P idem:<len>:<agent>:<key>   "<id>\n<digest>", SET NX PX idempotency_ttl
//   P owner:<agent>    host holding the agent's session; P host:<host> liveness (PX)
//   P notify:<host>    pub/sub channel: "agent <id> has new work"
//   P seq, P depth     counters
// All scripts take P as ARGV[1].

#include "plugins/_common_redis/reply.hpp"

namespace agenthost::plugins::queue_redis::scripts {

// ARGV: P agent id name args now deadline max_depth idem_key digest idem_ttl_ms host
//       read count base_ms cap_ms
// -> {"ok", record, notify_local, {record...}} | {"repeat", record} | {"conflict"} | {"full"}
// With read = "1" and the agent owned by `host`, the script also does the pull
// script's read (up to count new entries dispatched) and returns those records: the
// caller then needs no separate pull round trip.
const redis::Script& enqueue();
// ARGV: P agent host now count base_ms cap_ms -> {record...} newly dispatched
const redis::Script& pull();
// ARGV: P agent host now count base_ms cap_ms max_attempts
// -> {record...}: this agent's unacked commands (claimed) then new ones
const redis::Script& attach();
// ARGV: P agent host -> 1 when the ownership was released
const redis::Script& detach();
// ARGV: P agent id now -> "acked" | "ok" (no change) | "not_found"
const redis::Script& ack();
// ARGV: P agent id state now retain -> "finished" | "ok" (already final) | "not_found"
const redis::Script& complete();
// ARGV: P id now retain -> {"ok", record} | {"not_found"} | {"not_cancellable"}
const redis::Script& cancel();
// ARGV: P agent state limit -> {record...} newest first
const redis::Script& list();
// ARGV: P host now limit max_attempts base_ms cap_ms retain host_ttl_ms dead_max
// -> {{record...} to redeliver here, {record...} dead-lettered, timed_out count, depth}
const redis::Script& tick();

}  // namespace agenthost::plugins::queue_redis::scripts
