#include "plugins/identity_sqlite/lease_writer.hpp"

#include <utility>
#include <vector>

namespace agenthost::identity_sqlite {

std::shared_ptr<LeaseWriter> make_lease_writer(std::shared_ptr<IdentityDb> db,
                                               sdk::BlockingPool& pool, const sdk::Clock& clock,
                                               std::shared_ptr<sqlite::AsyncGate> gate,
                                               LeaseWriterLimits limits,
                                               LeaseWriterCounters counters) {
    auto run = [db = std::move(db), &clock](std::vector<LeaseWrite>& writes) {
        return db->write_batch(writes, clock.now_unix_ms());
    };
    return std::make_shared<LeaseWriter>(pool, std::move(gate), limits, std::move(run), counters);
}

}  // namespace agenthost::identity_sqlite
