// Session traffic after the welcome: acks and results go to the queue (results first
// to durable storage), telemetry to the store; the agent is acked only once the data
// is durable (PROTOCOL.md §5). Commands leave through the DeliverFn the queue calls.
#include <chrono>
#include <utility>

#include "kernel/backend/session_core.hpp"

namespace agenthost::backend {

namespace json = sdk::json;
namespace cc = net::close_code;

namespace {
// How often a result the queue could not record yet is tried again (session open).
constexpr std::chrono::milliseconds result_retry{1000};

bool transient(const sdk::Status& s) {
    return s.code() == sdk::Errc::unavailable || s.code() == sdk::Errc::timeout;
}
}  // namespace

void SessionCore::on_ack(proto::Envelope env, proto::AckBody ack) {
    auto self = shared_from_this();
    env_->queue->acked(
        peer_.identity, ack.command_id, [self, ref = env.id, id = ack.command_id](sdk::Status s) {
            if (s.ok()) {
                return;  // nothing to do on the strand: no hop (and thread wake-up) for it
            }
            self->post([self, s = std::move(s), ref, id] {
                if (self->phase_ != Phase::open) {
                    return;
                }
                if (s.code() == sdk::Errc::not_found) {
                    self->send_error(cc::malformed, "unknown command_id", ref, false);
                    return;
                }
                // The agent keeps the command; a lost ack only means a
                // redelivery, which the gateway deduplicates.
                self->env_->logger->warn(
                    "ack not recorded",
                    {{"agent", self->peer_.identity}, {"command_id", id}, {"error", s.message()}});
            });
        });
}

// get (is it this agent's command?) → store_result (durable) → completed → result_ack.
// Any step that fails for a transient reason leaves the result unacked: the gateway
// resends it from its spool and every step is idempotent. A gateway resends only after
// a reconnect, so a queue that is briefly unavailable (Redis down) must not strand the
// result on a session that stays open: the lookup or the state update is retried every
// `result_retry` while the session lives, and the result is acked once recorded.
// A command the queue delivered to this session is known to be this agent's (the
// in-flight gate holds it until its result is recorded): no lookup for it. Only other
// results (resent after a reconnect, or not this agent's) ask the queue.
void SessionCore::on_result(proto::Envelope env, proto::ResultBody result) {
    auto self = shared_from_this();
    std::string command_id = result.command_id;
    if (inflight_ && inflight_->holds(command_id)) {
        std::string ref = env.id;
        store_result(std::move(ref), std::move(result));
        return;
    }
    env_->queue->get(command_id, [self, env = std::move(env), result = std::move(result)](
                                     sdk::Result<sdk::CommandRecord> rec) mutable {
        self->post([self, env = std::move(env), result = std::move(result),
                    rec = std::move(rec)]() mutable {
            if (self->phase_ != Phase::open) {
                return;
            }
            const bool unknown = (!rec.ok() && rec.status().code() == sdk::Errc::not_found) ||
                                 (rec.ok() && rec->agent_id != self->peer_.identity);
            if (unknown) {
                self->send_error(cc::malformed, "unknown command_id", env.id, false);
                return;
            }
            if (!rec.ok()) {
                self->env_->logger->warn("result not stored: queue lookup failed",
                                         {{"agent", self->peer_.identity},
                                          {"command_id", result.command_id},
                                          {"error", rec.status().message()}});
                if (!transient(rec.status())) {
                    return;
                }
                self->env_->scheduler->schedule(
                    result_retry, [self, env = std::move(env), result = std::move(result)]() {
                        self->post([self, env, result] {
                            if (self->phase_ == Phase::open) {
                                self->on_result(env, result);
                            }
                        });
                    });
                return;
            }
            std::string ref = env.id;
            self->store_result(std::move(ref), std::move(result));
        });
    });
}

void SessionCore::store_result(std::string ref, proto::ResultBody result) {
    auto self = shared_from_this();
    const std::string command_id = result.command_id;
    const sdk::CommandState status = result.status;
    env_->telemetry->store_result(
        result.to_command_result(peer_.identity, env_->clock->now_unix_ms()),
        [self, ref = std::move(ref), command_id, status](sdk::Result<bool> stored) {
            if (!stored.ok()) {
                self->env_->logger->warn("result not stored",
                                         {{"agent", self->peer_.identity},
                                          {"command_id", command_id},
                                          {"error", stored.status().message()}});
                self->post([self, st = stored.status()] { self->close_for_backpressure(st); });
                return;
            }
            self->env_->queue->completed(
                self->peer_.identity, command_id, status,
                [self, ref, command_id, status, fresh = *stored](sdk::Status s) {
                    self->post([self, ref, command_id, status, fresh, s = std::move(s)] {
                        self->on_result_completed(ref, command_id, status, fresh, s);
                    });
                });
        });
}

void SessionCore::on_result_completed(const std::string& ref, const std::string& command_id,
                                      sdk::CommandState status, bool fresh, const sdk::Status& s) {
    if (phase_ != Phase::open) {
        return;
    }
    if (s.code() == sdk::Errc::not_found) {
        send_error(cc::malformed, "unknown command_id", ref, false);
        return;
    }
    if (!s.ok()) {
        env_->logger->warn(
            "result stored but command state not updated",
            {{"agent", peer_.identity}, {"command_id", command_id}, {"error", s.message()}});
        if (!transient(s)) {
            return;
        }
        // Unacked until the queue has it (see on_result); completing twice is harmless.
        auto self = shared_from_this();
        env_->scheduler->schedule(result_retry, [self, ref, command_id, status, fresh] {
            self->post([self, ref, command_id, status, fresh] {
                if (self->phase_ != Phase::open) {
                    return;
                }
                self->env_->queue->completed(
                    self->peer_.identity, command_id, status,
                    [self, ref, command_id, status, fresh](sdk::Status st) {
                        self->post([self, ref, command_id, status, fresh, st = std::move(st)] {
                            self->on_result_completed(ref, command_id, status, fresh, st);
                        });
                    });
            });
        });
        return;
    }
    if (fresh) {
        audit("command.result", "success",
              json::object{{"command_id", command_id}, {"status", sdk::to_string(status)}});
    }
    if (inflight_) {  // the slot is free: the next waiting command may go out
        inflight_->finish(command_id);
        release(inflight_->take_ready(env_->clock->now_unix_ms()));
    }
    proto::ResultAckBody ack;
    ack.command_id = command_id;
    send_frame(proto::type::result_ack, ack.to_json());
}

void SessionCore::on_telemetry(proto::Envelope env, proto::TelemetryBody batch) {
    (void)env;
    auto self = shared_from_this();
    sdk::TelemetryBatch b;
    b.agent_id = peer_.identity;
    b.batch_id = batch.batch_id;
    b.points = std::move(batch.points);
    env_->telemetry->store_batch(std::move(b), [self, batch_id = batch.batch_id](
                                                   sdk::Result<sdk::IngestOutcome> r) {
        self->post([self, batch_id, r = std::move(r)] {
            if (!r.ok()) {
                // No ack: the gateway keeps the batch spooled and resends it.
                self->env_->logger->warn("telemetry not stored", {{"agent", self->peer_.identity},
                                                                  {"batch_id", batch_id},
                                                                  {"error", r.status().message()}});
                self->close_for_backpressure(r.status());
                return;
            }
            self->count_cached(self->points_accepted_, "agenthost_telemetry_points_total",
                               "Telemetry points received", "outcome", "accepted",
                               r->accepted);
            self->count_cached(self->points_duplicate_, "agenthost_telemetry_points_total",
                               "Telemetry points received", "outcome", "duplicate",
                               r->duplicates);
            if (self->phase_ != Phase::open) {
                return;
            }
            proto::TelemetryAckBody ack;
            ack.batch_id = batch_id;
            ack.accepted = static_cast<std::int64_t>(r->accepted);
            ack.duplicates = static_cast<std::int64_t>(r->duplicates);
            self->send_frame(proto::type::telemetry_ack, ack.to_json());
        });
    });
}

namespace {

// Writes one command frame to the session; audits and counts the dispatch.
bool send_command(const SessionEnv& env, net::Connection& conn, const std::string& agent,
                  const std::string& kid, const std::string& key, const sdk::CommandRecord& c) {
    if (env.can_audit && !env.can_audit("command.dispatch")) {
        return false;  // audit.fail_closed: the queue redelivers once auditing works
    }
    proto::CommandBody body;
    body.command_id = c.command_id;
    body.name = c.name;
    body.args = c.args;
    body.issued_at = c.created_ms;
    body.deadline = c.deadline_ms;
    body.attempt = c.attempts < 1 ? 1 : c.attempts;
    const bool sent = conn.send(proto::encode(proto::type::command, agent, body.to_json(), kid,
                                              key, env.clock->now_unix_ms()));
    if (sent) {
        sdk::AuditEvent ev;
        ev.actor = "kernel";
        ev.action = "command.dispatch";
        ev.target = c.command_id;
        ev.outcome = "success";
        ev.details =
            json::object{{"agent_id", agent}, {"name", c.name}, {"attempt", body.attempt}};
        env.audit->record(std::move(ev));
        if (env.metrics) {
            env.metrics
                ->counter("agenthost_commands_dispatched_total",
                          "Command deliveries written to agent sessions")
                .inc();
        }
    }
    return sent;
}

}  // namespace

// A gateway resends unacked spool items only after a reconnect (PROTOCOL.md §5), so
// a store that failed for a transient reason (database down, ingest queue full) ends
// the session with 1013: the gateway backs off, reconnects and resends; without this
// its send window would stay full of unacked items forever. Bad input (4400 path)
// is not transient and keeps the session.
void SessionCore::close_for_backpressure(const sdk::Status& st) {
    if (phase_ != Phase::open || st.code() == sdk::Errc::invalid_argument) {
        return;
    }
    fail(cc::try_again_later, "storage unavailable, retry later", std::nullopt,
         "session.backpressure", false);
}

// Called by the queue on a loop thread, not on this session's strand: it touches only
// what it captured (all fixed before attach), the thread-safe gate and Connection.
// The in-flight gate decides what goes out now; the rest waits for results.
sdk::DeliverFn SessionCore::make_deliver() {
    std::weak_ptr<SessionCore> weak = weak_from_this();
    return [env = env_, weak_conn = std::weak_ptr<net::Connection>(conn_), agent = peer_.identity,
            kid = kid_, key = key_, gate = inflight_, weak](const sdk::CommandRecord& c) {
        auto conn = weak_conn.lock();
        if (!conn) {
            return false;
        }
        if (env->can_audit && !env->can_audit("command.dispatch")) {
            return false;  // audit.fail_closed: nothing is dispatched unaudited
        }
        const std::int64_t now = env->clock->now_unix_ms();
        if (gate->admit(c, now) == InflightGate::Admit::resend) {
            return send_command(*env, *conn, agent, kid, key, c);
        }
        bool accepted = true;  // waiting in the gate counts as taken
        bool own_out = false;
        std::vector<sdk::CommandRecord> others;
        for (auto& r : gate->take_ready(now)) {
            if (r.command_id == c.command_id) {
                own_out = true;
                accepted = send_command(*env, *conn, agent, kid, key, c);
            } else {
                others.push_back(std::move(r));
            }
        }
        if (!own_out && env->metrics) {
            env->metrics
                ->counter("agenthost_commands_deferred_total",
                          "Deliveries held back by the per-agent in-flight cap")
                .inc();
        }
        if (!others.empty()) {
            if (auto self = weak.lock()) {
                self->post([self, others = std::move(others)]() mutable {
                    self->release(std::move(others));
                });
            }
        }
        return accepted;
    };
}

void SessionCore::release(std::vector<sdk::CommandRecord> ready) {
    for (auto& r : ready) {
        auto self = shared_from_this();
        env_->queue->get(r.command_id, [self, id = r.command_id](
                                           sdk::Result<sdk::CommandRecord> rec) {
            self->post([self, id, rec = std::move(rec)] {
                const bool waits = rec.ok() && (rec->state == sdk::CommandState::queued ||
                                                rec->state == sdk::CommandState::dispatched);
                if (self->phase_ == Phase::open && waits && self->conn_) {
                    send_command(*self->env_, *self->conn_, self->peer_.identity, self->kid_,
                                 self->key_, *rec);
                    return;
                }
                // Finished meanwhile (timed out, dead-lettered) or the session ends:
                // never sent from here; its slot goes to the next one.
                self->inflight_->finish(id);
                if (self->phase_ == Phase::open) {
                    self->release(self->inflight_->take_ready(self->env_->clock->now_unix_ms()));
                }
            });
        });
    }
}

}  // namespace agenthost::backend
