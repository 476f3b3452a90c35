// TlsRefusalAudit and its ticker with a fake clock and a recording audit sink: the
// first refusal of a source at once, then one record per source and reason per window,
// nothing for a quiet window, the bounded table's overflow key, flush at stop.
#include <gtest/gtest.h>

#include "kernel/backend/tls_refusal_audit.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/fake_registries.hpp"
#include "tests/support/fake_scheduler.hpp"

namespace agenthost::backend {
namespace {

using namespace std::chrono_literals;
using testing::FakeAuditSink;
using testing::FakeClock;
using testing::FakeScheduler;

std::uint64_t count_of(const sdk::AuditEvent& e) {
    return e.details.at("count").to_number<std::uint64_t>();
}
std::string str(const sdk::AuditEvent& e, const char* field) {
    return std::string(e.details.at(field).as_string());
}
std::uint64_t total(const std::vector<sdk::AuditEvent>& events) {
    std::uint64_t n = 0;
    for (const auto& e : events) {
        n += count_of(e);
    }
    return n;
}

class TlsRefusalAuditTest : public ::testing::Test {
protected:
    FakeClock clock_;
    FakeAuditSink sink_;
};

TEST_F(TlsRefusalAuditTest, FirstRefusalIsRecordedAtOnce) {
    TlsRefusalAudit refusals(sink_, clock_);
    refusals.note("192.0.2.7", "certificate_rejected", "certificate has expired");
    auto events = sink_.events();
    ASSERT_EQ(events.size(), 1u);
    const auto& e = events[0];
    EXPECT_EQ(e.actor, "anonymous");
    EXPECT_EQ(e.action, "tls.refused");
    EXPECT_EQ(e.target, "192.0.2.7");
    EXPECT_EQ(e.outcome, "denied");
    EXPECT_EQ(str(e, "reason"), "certificate_rejected");
    EXPECT_EQ(str(e, "detail"), "certificate has expired");
    EXPECT_EQ(count_of(e), 1u);
    EXPECT_EQ(str(e, "first_seen"), "2026-11-27T08:00:00.000Z");
    EXPECT_EQ(str(e, "last_seen"), "2026-11-27T08:00:00.000Z");
    EXPECT_EQ(e.details.at("window_s").to_number<std::int64_t>(), 60);
}

TEST_F(TlsRefusalAuditTest, ThePeerInfluencedDetailIsBounded) {
    TlsRefusalAudit refusals(sink_, clock_);
    refusals.note("192.0.2.7", "protocol_error", std::string(500, 'x'));
    auto events = sink_.events();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(str(events[0], "detail"), std::string(160, 'x'));
}

TEST_F(TlsRefusalAuditTest, RepeatsInAWindowAreOneRecordAtItsEnd) {
    TlsRefusalAudit refusals(sink_, clock_);
    refusals.note("192.0.2.7", "no_client_certificate", "");
    clock_.advance(10s);
    for (int i = 0; i < 4; ++i) {
        refusals.note("192.0.2.7", "no_client_certificate", "attempt " + std::to_string(i));
        clock_.advance(1s);
    }
    clock_.advance(45s);  // 59 s into the window
    refusals.tick();
    EXPECT_EQ(sink_.events().size(), 1u) << "a record before the window ended";
    clock_.advance(1s);
    refusals.tick();
    auto events = sink_.events();
    ASSERT_EQ(events.size(), 2u);
    const auto& e = events[1];
    EXPECT_EQ(e.target, "192.0.2.7");
    EXPECT_EQ(str(e, "reason"), "no_client_certificate");
    EXPECT_EQ(count_of(e), 4u);
    EXPECT_EQ(str(e, "first_seen"), "2026-11-27T08:00:10.000Z");
    EXPECT_EQ(str(e, "last_seen"), "2026-11-27T08:00:13.000Z");
    EXPECT_EQ(str(e, "detail"), "attempt 3");  // the last one seen

    // The next window continues the count from zero.
    refusals.note("192.0.2.7", "no_client_certificate", "");
    clock_.advance(60s);
    refusals.tick();
    events = sink_.events();
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(count_of(events[2]), 1u);
}

TEST_F(TlsRefusalAuditTest, SeparateSourcesAndReasonsAreSeparateRecords) {
    TlsRefusalAudit refusals(sink_, clock_);
    const std::vector<std::pair<std::string, std::string>> keys{
        {"192.0.2.1", "no_client_certificate"},
        {"192.0.2.2", "no_client_certificate"},
        {"192.0.2.1", "certificate_rejected"},
    };
    for (std::size_t k = 0; k < keys.size(); ++k) {
        for (std::size_t i = 0; i < k + 2; ++i) {  // 2, 3, 4 refusals
            refusals.note(keys[k].first, keys[k].second, "");
        }
    }
    EXPECT_EQ(sink_.events().size(), 3u);  // one at once per key
    clock_.advance(60s);
    refusals.tick();
    auto events = sink_.events();
    ASSERT_EQ(events.size(), 6u);
    for (std::size_t k = 0; k < keys.size(); ++k) {
        bool found = false;
        for (std::size_t i = 3; i < events.size(); ++i) {
            if (events[i].target == keys[k].first && str(events[i], "reason") == keys[k].second) {
                EXPECT_FALSE(found) << "two records for one key";
                found = true;
                EXPECT_EQ(count_of(events[i]), k + 1) << keys[k].first << " " << keys[k].second;
            }
        }
        EXPECT_TRUE(found) << keys[k].first << " " << keys[k].second;
    }
}

TEST_F(TlsRefusalAuditTest, QuietWindowWritesNothingAndForgetsTheSource) {
    TlsRefusalAudit refusals(sink_, clock_);
    refusals.note("192.0.2.7", "protocol_error", "wrong version number");
    refusals.note("192.0.2.7", "protocol_error", "wrong version number");
    clock_.advance(60s);
    refusals.tick();
    ASSERT_EQ(sink_.events().size(), 2u);  // at once, then the window's count
    clock_.advance(60s);
    refusals.tick();  // a window with no refusal
    EXPECT_EQ(sink_.events().size(), 2u);
    EXPECT_EQ(refusals.keys(), 0u);
    clock_.advance(60s);
    refusals.tick();
    EXPECT_EQ(sink_.events().size(), 2u);
    // Forgotten: the next refusal is news again.
    refusals.note("192.0.2.7", "protocol_error", "wrong version number");
    auto events = sink_.events();
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(count_of(events[2]), 1u);
}

TEST_F(TlsRefusalAuditTest, FullTableCountsNewSourcesInOneOverflowKeyPerReason) {
    TlsRefusalAudit refusals(sink_, clock_, {60s, 4});
    std::uint64_t noted = 0;
    auto note = [&](const std::string& ip, const char* reason) {
        refusals.note(ip, reason, "d");
        ++noted;
    };
    for (int i = 0; i < 4; ++i) {
        note("10.0.0." + std::to_string(i), "no_client_certificate");
    }
    for (int i = 0; i < 100; ++i) {  // a flood from new addresses
        note("10.1.0." + std::to_string(i), "no_client_certificate");
    }
    for (int i = 0; i < 10; ++i) {
        note("10.2.0." + std::to_string(i), "protocol_error");
    }
    note("10.0.0.1", "no_client_certificate");  // a tracked source stays tracked
    EXPECT_EQ(refusals.keys(), 6u);             // 4 sources + 2 overflow keys
    // At once: the 4 sources and the first refusal of each overflow key.
    EXPECT_EQ(sink_.events().size(), 6u);
    clock_.advance(60s);
    refusals.tick();
    auto events = sink_.events();
    EXPECT_LE(events.size(), 6u + 3u);  // at most keys in the window
    EXPECT_EQ(total(events), noted) << "a refusal was not counted";
    std::uint64_t overflow_no_cert = 0;
    std::uint64_t overflow_protocol = 0;
    for (const auto& e : events) {
        if (e.target == TlsRefusalAudit::overflow_remote) {
            (str(e, "reason") == "no_client_certificate" ? overflow_no_cert : overflow_protocol) +=
                count_of(e);
        }
    }
    EXPECT_EQ(overflow_no_cert, 100u);
    EXPECT_EQ(overflow_protocol, 10u);
}

TEST_F(TlsRefusalAuditTest, FlushWritesPendingCountsAtOnce) {
    TlsRefusalAudit refusals(sink_, clock_);
    for (int i = 0; i < 3; ++i) {
        refusals.note("192.0.2.7", "handshake_timeout", "");
    }
    refusals.note("192.0.2.8", "handshake_timeout", "");
    clock_.advance(5s);
    refusals.flush();  // long before the window ends
    auto events = sink_.events();
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(events[2].target, "192.0.2.7");
    EXPECT_EQ(count_of(events[2]), 2u);
    refusals.flush();  // nothing left
    EXPECT_EQ(sink_.events().size(), 3u);
}

TEST_F(TlsRefusalAuditTest, TickerClosesWindowsAndFlushesAtStop) {
    FakeScheduler scheduler(clock_);
    auto refusals = std::make_shared<TlsRefusalAudit>(sink_, clock_);
    TlsRefusalTicker ticker(scheduler, refusals, 5s);
    for (int i = 0; i < 3; ++i) {
        refusals->note("192.0.2.7", "no_client_certificate", "");
    }
    scheduler.advance(55s);
    EXPECT_EQ(sink_.events().size(), 1u);
    scheduler.advance(5s);  // the tick at 60 s closes the window
    ASSERT_EQ(sink_.events().size(), 2u);
    EXPECT_EQ(count_of(sink_.events()[1]), 2u);

    refusals->note("192.0.2.7", "no_client_certificate", "");
    refusals->note("192.0.2.7", "no_client_certificate", "");
    ticker.stop();  // backend stop: nothing counted is lost
    ASSERT_EQ(sink_.events().size(), 3u);
    EXPECT_EQ(count_of(sink_.events()[2]), 2u);
    EXPECT_EQ(scheduler.pending_timers(), 0u);
    ticker.stop();
    EXPECT_EQ(sink_.events().size(), 3u);
}

}  // namespace
}  // namespace agenthost::backend
