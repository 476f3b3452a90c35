#pragma once
// LeaseWriter: group commit for the lease writes (open, renew, close) — the shared
// BatchQueue (../_common_sqlite/batch_queue.hpp) running IdentityDb::write_batch.
// A call queues its write; one drain task at a time on the blocking pool runs up to
// `max_batch` queued writes in one transaction and completes each caller after the
// commit. Bounded (`max_queued`, then unavailable) and behind the plugin's AsyncGate.

#include <memory>

#include <agenthost/scheduler.hpp>

#include "plugins/_common_sqlite/async_gate.hpp"
#include "plugins/_common_sqlite/batch_queue.hpp"
#include "plugins/identity_sqlite/identity_db.hpp"

namespace agenthost::identity_sqlite {

using LeaseWriterLimits = sqlite::BatchLimits;
using LeaseWriterCounters = sqlite::BatchCounters;
using LeaseWriter = sqlite::BatchQueue<LeaseWrite, LeaseWriteResult>;

// The batch's time is the clock's when it runs (as a single call's was).
std::shared_ptr<LeaseWriter> make_lease_writer(std::shared_ptr<IdentityDb> db,
                                               sdk::BlockingPool& pool, const sdk::Clock& clock,
                                               std::shared_ptr<sqlite::AsyncGate> gate,
                                               LeaseWriterLimits limits,
                                               LeaseWriterCounters counters = {});

}  // namespace agenthost::identity_sqlite
