#pragma once
// Status and Result<T>: the only way errors cross the SDK boundary.
// No exception may leave a plugin; the kernel still wraps every call and turns
// a throw into a plugin failure, but a plugin that throws is a defective plugin.

#include <cassert>
#include <functional>
#include <string>
#include <utility>
#include <variant>

namespace agenthost::sdk {

// Error kinds a caller can act on. Plugins pick the closest one; `message` carries detail.
enum class Errc {
    ok = 0,
    invalid_argument,   // caller's input is malformed (API 400)
    not_found,          // the named thing does not exist (API 404)
    conflict,           // state forbids it: revoked, duplicate session, not cancellable (409)
    exhausted,          // a bound is reached: queue full, cache full (429 / 1013)
    unavailable,        // a dependency is down; retry later (503 / readiness)
    timeout,            // the operation did not finish in time
    permission_denied,  // authentication or authorisation failed
    unsupported,        // the capability does not implement this call
    internal,           // a bug or an unexpected failure
};

const char* errc_name(Errc code) noexcept;

class Status {
public:
    Status() = default;
    Status(Errc code, std::string message) : code_(code), message_(std::move(message)) {}

    static Status success() { return {}; }

    bool ok() const noexcept { return code_ == Errc::ok; }
    explicit operator bool() const noexcept { return ok(); }
    Errc code() const noexcept { return code_; }
    const std::string& message() const noexcept { return message_; }

private:
    Errc code_ = Errc::ok;
    std::string message_;
};

// Completion callback of an asynchronous SDK call.
template <typename T>
using Callback = std::function<void(T)>;

inline Status error(Errc code, std::string message) { return Status(code, std::move(message)); }

// Result<T> holds either a value or a non-ok Status.
template <typename T>
class Result {
public:
    Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
    Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
        assert(!std::get<Status>(v_).ok() && "Result built from an ok Status");
    }

    bool ok() const noexcept { return std::holds_alternative<T>(v_); }
    explicit operator bool() const noexcept { return ok(); }

    T& value() & { return std::get<T>(v_); }
    const T& value() const& { return std::get<T>(v_); }
    T&& value() && { return std::get<T>(std::move(v_)); }
    T* operator->() { return &std::get<T>(v_); }
    const T* operator->() const { return &std::get<T>(v_); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    // The error; an ok Result reports Status::success().
    Status status() const { return ok() ? Status{} : std::get<Status>(v_); }

private:
    std::variant<T, Status> v_;
};

inline const char* errc_name(Errc code) noexcept {
    switch (code) {
        case Errc::ok: return "ok";
        case Errc::invalid_argument: return "invalid_argument";
        case Errc::not_found: return "not_found";
        case Errc::conflict: return "conflict";
        case Errc::exhausted: return "exhausted";
        case Errc::unavailable: return "unavailable";
        case Errc::timeout: return "timeout";
        case Errc::permission_denied: return "permission_denied";
        case Errc::unsupported: return "unsupported";
        case Errc::internal: return "internal";
    }
    return "unknown";
}

}  // namespace agenthost::sdk
