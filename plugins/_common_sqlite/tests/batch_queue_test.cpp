// BatchQueue with a fake pool and a recording run_batch (no database): items queued
// at one moment run as one batch in order, the batch cap splits them, a throwing or
// miscounting run_batch fails every item of its batch (and only that batch), the
// queue is bounded, a long stream hands the pool thread back, and after the gate
// closed nothing completes.

#include <optional>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "plugins/_common_sqlite/batch_queue.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::sqlite {
namespace {

using sdk::Errc;
using sdk::Status;
using testing::FakeBlockingPool;
using Queue = BatchQueue<int, Status>;

class BatchQueueTest : public ::testing::Test {
protected:
    std::shared_ptr<Queue> make(BatchLimits limits) {
        return std::make_shared<Queue>(pool_, gate_, limits, [this](std::vector<int>& items) {
            batches_.push_back(items);
            if (throw_next_) {
                throw_next_ = false;
                throw std::runtime_error("boom");
            }
            std::vector<Status> out;
            for (int i : items) {
                out.push_back(i % 2 == 0 ? Status{} : Status(Errc::not_found, "odd"));
            }
            if (short_next_) {
                short_next_ = false;
                out.pop_back();
            }
            return out;
        });
    }

    FakeBlockingPool pool_{FakeBlockingPool::Mode::manual};
    std::shared_ptr<AsyncGate> gate_ = std::make_shared<AsyncGate>();
    std::vector<std::vector<int>> batches_;
    bool throw_next_ = false;
    bool short_next_ = false;
};

TEST_F(BatchQueueTest, QueuedItemsRunInOrderInCappedBatches) {
    auto q = make({3, 100});
    std::vector<std::optional<Status>> got(7);
    for (int i = 0; i < 7; ++i) {
        q->submit(i, [&got, i](Status s) { got[i] = s; });
    }
    EXPECT_EQ(pool_.pending(), 1u);
    pool_.run_until_idle();
    ASSERT_EQ(batches_.size(), 3u);
    EXPECT_EQ(batches_[0], (std::vector<int>{0, 1, 2}));
    EXPECT_EQ(batches_[1], (std::vector<int>{3, 4, 5}));
    EXPECT_EQ(batches_[2], (std::vector<int>{6}));
    for (int i = 0; i < 7; ++i) {
        ASSERT_TRUE(got[i].has_value());
        EXPECT_EQ(got[i]->code(), i % 2 == 0 ? Errc::ok : Errc::not_found) << i;
    }
    EXPECT_EQ(q->queued(), 0u);
    // Idle again: the next item schedules a new drain task.
    q->submit(8, [](Status) {});
    EXPECT_EQ(pool_.pending(), 1u);
}

TEST_F(BatchQueueTest, ThrowingOrMiscountingBatchFailsOnlyItsItems) {
    auto q = make({2, 100});
    std::vector<std::optional<Status>> got(6);
    throw_next_ = true;
    for (int i = 0; i < 6; ++i) {
        q->submit(i * 2, [&got, i](Status s) { got[i] = s; });
    }
    pool_.run_until_idle();
    EXPECT_EQ(got[0]->code(), Errc::internal);
    EXPECT_EQ(got[1]->code(), Errc::internal);
    EXPECT_TRUE(*got[2]);
    EXPECT_TRUE(*got[3]);

    short_next_ = true;
    std::vector<std::optional<Status>> more(2);
    q->submit(0, [&](Status s) { more[0] = s; });
    q->submit(2, [&](Status s) { more[1] = s; });
    pool_.run_until_idle();
    EXPECT_EQ(more[0]->code(), Errc::internal);
    EXPECT_EQ(more[1]->code(), Errc::internal);
}

TEST_F(BatchQueueTest, FullQueueRefusesInline) {
    auto q = make({10, 2});
    int refused = 0;
    int ok = 0;
    for (int i = 0; i < 5; ++i) {
        q->submit(0, [&](Status s) {
            if (s) {
                ++ok;
            } else if (s.code() == Errc::unavailable) {
                ++refused;
            }
        });
    }
    EXPECT_EQ(refused, 3);
    pool_.run_until_idle();
    EXPECT_EQ(ok, 2);
}

TEST_F(BatchQueueTest, LongStreamHandsThePoolThreadBack) {
    auto q = make({1, 1000});
    int done = 0;
    for (int i = 0; i < 20; ++i) {
        q->submit(0, [&](Status) { ++done; });
    }
    // One drain task runs at most 8 batches, then re-queues itself.
    pool_.run_until_idle();
    EXPECT_EQ(done, 20);
    EXPECT_EQ(batches_.size(), 20u);
    EXPECT_GE(pool_.submitted(), 3u);
}

TEST_F(BatchQueueTest, NothingCompletesAfterTheGateClosed) {
    auto q = make({10, 100});
    bool completed = false;
    q->submit(0, [&](Status) { completed = true; });
    gate_->close();
    q->clear();
    pool_.run_until_idle();
    EXPECT_FALSE(completed);
    EXPECT_TRUE(batches_.empty());
    std::optional<Status> late;
    q->submit(0, [&](Status s) { late = s; });
    ASSERT_TRUE(late.has_value());
    EXPECT_EQ(late->code(), Errc::unavailable);
}

}  // namespace
}  // namespace agenthost::sqlite
