#pragma once
// Shared between the loader tests and their test plugins: the test provides a
// TestRecorder under capability "test_recorder" before starting plugins, and the
// plugins note their lifecycle steps into it, so the test can check the order.

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace agenthost::test {

class TestRecorder {
public:
    static constexpr std::string_view capability = "test_recorder";
    virtual ~TestRecorder() = default;
    virtual void note(std::string_view what) = 0;
};

class VectorRecorder final : public TestRecorder {
public:
    void note(std::string_view what) override {
        std::lock_guard lock(mu_);
        notes_.emplace_back(what);
    }
    std::vector<std::string> notes() const {
        std::lock_guard lock(mu_);
        return notes_;
    }

private:
    mutable std::mutex mu_;
    std::vector<std::string> notes_;
};

}  // namespace agenthost::test
