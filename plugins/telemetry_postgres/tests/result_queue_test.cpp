// The result group-commit queue with a fake writer (no server): results coalesce while
// one group commits, each completion follows its group's write, the bound refuses with
// unavailable (no ack), a failed write reaches every caller of the group.

#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "plugins/telemetry_postgres/result_queue.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::telemetry_postgres {
namespace {

using sdk::Errc;
using testing::FakeBlockingPool;

sdk::CommandResult result_of(std::string id) {
    sdk::CommandResult r;
    r.command_id = std::move(id);
    r.status = sdk::CommandState::succeeded;
    return r;
}

// Blocks in write() until released; stores the first copy of each command_id.
class FakeResultWriter final : public ResultWriter {
public:
    sdk::Result<std::vector<bool>> write(std::span<const sdk::CommandResult> group) override {
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
        std::vector<bool> out;
        for (const auto& r : group) {
            out.push_back(stored.insert(r.command_id).second);
        }
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
    std::set<std::string> stored;
    std::vector<std::size_t> groups;
    sdk::Status fail;
};

struct Recorder {
    std::mutex mu;
    std::vector<sdk::Result<bool>> results;
    ResultQueue::Done make() {
        return [this](sdk::Result<bool> r) {
            std::lock_guard lk(mu);
            results.push_back(std::move(r));
        };
    }
    std::size_t size() {
        std::lock_guard lk(mu);
        return results.size();
    }
};

TEST(ResultQueue, CoalescesWhileOneGroupCommitsAndCompletesOnlyAfterIt) {
    FakeBlockingPool pool(FakeBlockingPool::Mode::threaded, 2);
    auto writer = std::make_shared<FakeResultWriter>();
    ResultQueueOptions o;
    o.workers = 1;
    auto q = std::make_shared<ResultQueue>(pool, writer, o);
    Recorder rec;
    q->submit(result_of("c-0"), rec.make());
    ASSERT_TRUE(writer->wait_entered(1));  // group 1 held in "commit"
    for (int i = 1; i <= 5; ++i) {
        q->submit(result_of("c-" + std::to_string(i)), rec.make());
    }
    q->submit(result_of("c-3"), rec.make());  // a duplicate inside the next group
    EXPECT_EQ(q->queued(), 6u);
    EXPECT_EQ(rec.size(), 0u);  // nothing completes before its commit
    writer->release_one();
    ASSERT_TRUE(writer->wait_entered(2));
    ASSERT_TRUE(testing::wait_until([&] { return rec.size() == 1; }));
    EXPECT_EQ(rec.size(), 1u);
    writer->release_one();
    ASSERT_TRUE(testing::wait_until([&] { return rec.size() == 7; }));
    EXPECT_EQ(writer->groups, (std::vector<std::size_t>{1, 6}));
    std::size_t fresh = 0;
    for (auto& r : rec.results) {
        ASSERT_TRUE(r);
        fresh += *r ? 1 : 0;
    }
    EXPECT_EQ(fresh, 6u);  // the repeated c-3 reported as a duplicate
    q->close();
}

TEST(ResultQueue, FullQueueRefusedWithUnavailable) {
    FakeBlockingPool pool(FakeBlockingPool::Mode::threaded, 2);
    auto writer = std::make_shared<FakeResultWriter>();
    ResultQueueOptions o;
    o.workers = 1;
    o.max_queue = 2;
    auto q = std::make_shared<ResultQueue>(pool, writer, o);
    Recorder rec;
    q->submit(result_of("a"), rec.make());  // taken by the writer
    ASSERT_TRUE(writer->wait_entered(1));
    q->submit(result_of("b"), rec.make());
    q->submit(result_of("c"), rec.make());  // at the bound
    q->submit(result_of("d"), rec.make());  // refused inline
    ASSERT_EQ(rec.size(), 1u);
    EXPECT_EQ(rec.results[0].status().code(), Errc::unavailable);
    EXPECT_EQ(q->rejected(), 1u);
    EXPECT_EQ(q->queued(), 2u);
    writer->hold = false;
    writer->release_one();
    ASSERT_TRUE(testing::wait_until([&] { return rec.size() == 4; }));
    EXPECT_EQ(writer->stored.count("d"), 0u);  // the refused one was never written
    EXPECT_EQ(writer->stored.size(), 3u);
    q->close();
}

TEST(ResultQueue, WriteFailureReachesEveryCallerAndGroupsAreBounded) {
    FakeBlockingPool pool(FakeBlockingPool::Mode::threaded, 2);
    auto writer = std::make_shared<FakeResultWriter>();
    writer->fail = sdk::Status(Errc::unavailable, "db down");
    ResultQueueOptions o;
    o.workers = 1;
    o.max_group = 2;
    std::size_t failed = 0;
    std::mutex fm;
    auto q = std::make_shared<ResultQueue>(pool, writer, o,
                                           [&](std::size_t n, const sdk::Status& st) {
                                               std::lock_guard lk(fm);
                                               failed += st ? std::size_t{0} : n;
                                           });
    Recorder rec;
    q->submit(result_of("x"), rec.make());
    ASSERT_TRUE(writer->wait_entered(1));
    for (int i = 0; i < 5; ++i) {
        q->submit(result_of("y" + std::to_string(i)), rec.make());
    }
    writer->hold = false;
    writer->release_one();
    ASSERT_TRUE(testing::wait_until([&] { return rec.size() == 6; }));
    for (auto& r : rec.results) {
        EXPECT_EQ(r.status().code(), Errc::unavailable);
    }
    EXPECT_EQ(writer->groups, (std::vector<std::size_t>{1, 2, 2, 1}));
    std::lock_guard lk(fm);
    EXPECT_EQ(failed, 6u);
    q->close();
}

TEST(ResultQueue, ClosedQueueRefusesAndDropsPendingCompletions) {
    FakeBlockingPool pool(FakeBlockingPool::Mode::threaded, 2);
    auto writer = std::make_shared<FakeResultWriter>();
    ResultQueueOptions o;
    o.workers = 1;
    auto q = std::make_shared<ResultQueue>(pool, writer, o);
    Recorder rec;
    q->submit(result_of("a"), rec.make());
    ASSERT_TRUE(writer->wait_entered(1));
    q->submit(result_of("b"), rec.make());
    ASSERT_EQ(q->queued(), 1u);
    std::thread closer([&] { q->close(); });  // waits for the group in flight
    // The single drain task is held, so only close() can empty the queue.
    ASSERT_TRUE(testing::wait_until([&] { return q->queued() == 0; }));
    writer->hold = false;
    writer->release_one();
    closer.join();
    EXPECT_EQ(rec.size(), 0u);  // a's completion (after close) and b's are dropped
    q->submit(result_of("c"), rec.make());
    ASSERT_EQ(rec.size(), 1u);
    EXPECT_EQ(rec.results[0].status().code(), Errc::unavailable);
}

}  // namespace
}  // namespace agenthost::telemetry_postgres
