// The group-commit queue with a fake writer (no server): coalescing, completions only
// after the write returned, the bound (fail fast with exhausted), errors reach every
// batch of the group, and close() drops pending completions.

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "plugins/telemetry_postgres/ingest_queue.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::telemetry_postgres {
namespace {

using sdk::Errc;
using testing::FakeBlockingPool;

PreparedBatch batch_of(std::size_t n, std::int64_t base = 0) {
    PreparedBatch b;
    b.agent_id = "gw";
    b.points = n;
    for (std::size_t i = 0; i < n; ++i) {
        b.rows.push_back(Row{"m", base + static_cast<std::int64_t>(i), 0, "{}", 1.0});
    }
    return b;
}

// Blocks in write() until released; records every group it saw.
class FakeWriter final : public GroupWriter {
public:
    sdk::Result<std::vector<sdk::IngestOutcome>> write(
        std::span<const PreparedBatch> group) override {
        std::unique_lock lk(mu);
        groups.push_back(group.size());
        ++entered;
        cv.notify_all();
        cv.wait(lk, [&] { return released > 0 || !hold; });
        if (released > 0) {
            --released;
        }
        if (!fail.ok()) {
            return fail;
        }
        std::vector<sdk::IngestOutcome> out;
        for (const auto& b : group) {
            out.push_back({b.rows.size(), b.points - b.rows.size()});
        }
        committed += group.size();
        return out;
    }
    void release_one() {
        std::lock_guard lk(mu);
        ++released;
        cv.notify_all();
    }
    bool wait_entered(int n) {
        std::unique_lock lk(mu);
        return cv.wait_for(lk, std::chrono::seconds(10), [&] { return entered >= n; });
    }

    std::mutex mu;
    std::condition_variable cv;
    bool hold = true;
    int released = 0;
    int entered = 0;
    std::size_t committed = 0;
    std::vector<std::size_t> groups;
    sdk::Status fail;
};

struct Recorder {
    std::mutex mu;
    std::vector<sdk::Result<sdk::IngestOutcome>> results;
    IngestQueue::Done make() {
        return [this](sdk::Result<sdk::IngestOutcome> r) {
            std::lock_guard lk(mu);
            results.push_back(std::move(r));
        };
    }
    std::size_t size() {
        std::lock_guard lk(mu);
        return results.size();
    }
};

TEST(IngestQueue, CoalescesWhileOneGroupCommitsAndAcksOnlyAfterIt) {
    FakeBlockingPool pool(FakeBlockingPool::Mode::threaded, 2);
    auto writer = std::make_shared<FakeWriter>();
    IngestOptions o;
    o.workers = 1;
    auto q = std::make_shared<IngestQueue>(pool, writer, o);
    Recorder rec;
    q->submit(batch_of(3), rec.make());
    ASSERT_TRUE(writer->wait_entered(1));  // group 1 = the first batch, held in "commit"
    for (int i = 0; i < 10; ++i) {
        q->submit(batch_of(2, 100 * (i + 1)), rec.make());
    }
    EXPECT_EQ(q->queued_batches(), 10u);
    EXPECT_EQ(q->queued_points(), 20u);
    EXPECT_EQ(rec.size(), 0u);  // nothing completes before its commit
    writer->release_one();
    ASSERT_TRUE(writer->wait_entered(2));
    ASSERT_TRUE(testing::wait_until([&] { return rec.size() == 1; }));
    EXPECT_EQ(rec.size(), 1u);  // the 10 wait for the second commit
    writer->release_one();
    ASSERT_TRUE(testing::wait_until([&] { return rec.size() == 11; }));
    EXPECT_EQ(writer->groups, (std::vector<std::size_t>{1, 10}));  // one transaction for 10
    for (auto& r : rec.results) {
        ASSERT_TRUE(r);
    }
    EXPECT_EQ(rec.results[0]->accepted, 3u);
    EXPECT_EQ(q->queued_points(), 0u);
    q->close();
}

TEST(IngestQueue, FullQueueFailsFastWithExhausted) {
    FakeBlockingPool pool(FakeBlockingPool::Mode::threaded, 2);
    auto writer = std::make_shared<FakeWriter>();
    IngestOptions o;
    o.workers = 1;
    o.max_queue_points = 10;
    auto q = std::make_shared<IngestQueue>(pool, writer, o);
    Recorder rec;
    q->submit(batch_of(4), rec.make());  // taken by the writer
    ASSERT_TRUE(writer->wait_entered(1));
    q->submit(batch_of(6, 10), rec.make());  // queued: 6
    q->submit(batch_of(4, 20), rec.make());  // queued: 10 (at the bound)
    q->submit(batch_of(1, 30), rec.make());  // refused inline
    ASSERT_EQ(rec.size(), 1u);
    EXPECT_EQ(rec.results[0].status().code(), Errc::exhausted);
    EXPECT_EQ(q->rejected(), 1u);
    EXPECT_EQ(q->queued_points(), 10u);  // memory bounded
    writer->hold = false;
    writer->release_one();
    ASSERT_TRUE(testing::wait_until([&] { return rec.size() == 4; }));
    EXPECT_EQ(writer->committed, 3u);
    q->close();
}

TEST(IngestQueue, OversizedBatchAdmittedIntoAnEmptyQueue) {
    FakeBlockingPool pool(FakeBlockingPool::Mode::inline_run);
    auto writer = std::make_shared<FakeWriter>();
    writer->hold = false;
    IngestOptions o;
    o.max_queue_points = 5;
    auto q = std::make_shared<IngestQueue>(pool, writer, o);
    Recorder rec;
    q->submit(batch_of(8), rec.make());
    ASSERT_EQ(rec.size(), 1u);
    ASSERT_TRUE(rec.results[0]);
    EXPECT_EQ(rec.results[0]->accepted, 8u);
}

TEST(IngestQueue, WriteFailureReachesEveryBatchOfTheGroup) {
    FakeBlockingPool pool(FakeBlockingPool::Mode::threaded, 2);
    auto writer = std::make_shared<FakeWriter>();
    writer->fail = sdk::Status(Errc::unavailable, "db down");
    IngestOptions o;
    o.workers = 1;
    std::atomic<int> observed_failures{0};
    auto q = std::make_shared<IngestQueue>(pool, writer, o, [&](const GroupReport& r) {
        if (!r.status) {
            observed_failures += static_cast<int>(r.batches);
        }
    });
    Recorder rec;
    q->submit(batch_of(1), rec.make());
    ASSERT_TRUE(writer->wait_entered(1));
    q->submit(batch_of(1, 5), rec.make());
    q->submit(batch_of(1, 6), rec.make());
    writer->hold = false;
    writer->release_one();
    ASSERT_TRUE(testing::wait_until([&] { return rec.size() == 3; }));
    for (auto& r : rec.results) {
        EXPECT_EQ(r.status().code(), Errc::unavailable);
    }
    EXPECT_EQ(observed_failures.load(), 3);
    q->close();
}

TEST(IngestQueue, GroupSizeBoundedByMaxGroupPoints) {
    FakeBlockingPool pool(FakeBlockingPool::Mode::threaded, 2);
    auto writer = std::make_shared<FakeWriter>();
    IngestOptions o;
    o.workers = 1;
    o.max_group_points = 5;
    auto q = std::make_shared<IngestQueue>(pool, writer, o);
    Recorder rec;
    q->submit(batch_of(1), rec.make());
    ASSERT_TRUE(writer->wait_entered(1));
    for (int i = 0; i < 6; ++i) {
        q->submit(batch_of(2, 10 * (i + 1)), rec.make());
    }
    writer->hold = false;
    writer->release_one();
    ASSERT_TRUE(testing::wait_until([&] { return rec.size() == 7; }));
    EXPECT_EQ(writer->groups, (std::vector<std::size_t>{1, 2, 2, 2}));
    q->close();
}

TEST(IngestQueue, CloseDropsQueuedCompletionsAndRefusesNewOnes) {
    FakeBlockingPool pool(FakeBlockingPool::Mode::threaded, 2);
    auto writer = std::make_shared<FakeWriter>();
    IngestOptions o;
    o.workers = 1;
    auto q = std::make_shared<IngestQueue>(pool, writer, o);
    Recorder rec;
    q->submit(batch_of(1), rec.make());
    ASSERT_TRUE(writer->wait_entered(1));
    q->submit(batch_of(1, 5), rec.make());
    std::thread closer([&] { q->close(); });  // waits for the group being written
    // close() marks the queue closed before it waits for the group being written; only
    // then may the writer finish, or the queued batch could slip into a second group.
    Recorder probe;
    ASSERT_TRUE(testing::wait_until([&] {
        q->submit(batch_of(1, 7), probe.make());
        return probe.size() > 0 && probe.results.back().status().code() == Errc::unavailable;
    }));
    writer->hold = false;
    writer->release_one();
    closer.join();
    const std::size_t after_close = rec.size();
    EXPECT_LE(after_close, 1u);  // the in-flight group may complete; the queued one never
    q->submit(batch_of(1, 9), rec.make());
    ASSERT_EQ(rec.size(), after_close + 1);
    EXPECT_EQ(rec.results.back().status().code(), Errc::unavailable);
}

TEST(IngestQueue, EmptyBatchCompletesInline) {
    FakeBlockingPool pool(FakeBlockingPool::Mode::manual);
    auto q = std::make_shared<IngestQueue>(pool, std::make_shared<FakeWriter>(), IngestOptions{});
    Recorder rec;
    q->submit(PreparedBatch{"gw", {}, 0}, rec.make());
    ASSERT_EQ(rec.size(), 1u);
    EXPECT_EQ(rec.results[0]->accepted + rec.results[0]->duplicates, 0u);
}

}  // namespace
}  // namespace agenthost::telemetry_postgres
