// ah_redis without a server: redis:// URL parsing, reply helpers, script hashes.
#include <gtest/gtest.h>

#include "plugins/_common_redis/reply.hpp"

namespace agenthost::redis {
namespace {

TEST(RedisUrl, ParsesHostPortDbAndCredentials) {
    auto ep = parse_url("redis://127.0.0.1:6380/3");
    ASSERT_TRUE(ep.ok()) << ep.status().message();
    EXPECT_EQ(ep->host, "127.0.0.1");
    EXPECT_EQ(ep->port, 6380);
    EXPECT_EQ(ep->db, 3);
    EXPECT_TRUE(ep->password.empty());

    auto auth = parse_url("redis://queue:p%40ss%3Aword@redis.internal");
    ASSERT_TRUE(auth.ok()) << auth.status().message();
    EXPECT_EQ(auth->username, "queue");
    EXPECT_EQ(auth->password, "p@ss:word");
    EXPECT_EQ(auth->host, "redis.internal");
    EXPECT_EQ(auth->port, 6379);
    EXPECT_EQ(auth->display(), "redis.internal:6379/0") << "credentials never in logs";

    auto only_pass = parse_url("redis://:secret@[::1]:7000/");
    ASSERT_TRUE(only_pass.ok()) << only_pass.status().message();
    EXPECT_EQ(only_pass->host, "::1");
    EXPECT_EQ(only_pass->port, 7000);
    EXPECT_EQ(only_pass->password, "secret");
    EXPECT_TRUE(only_pass->username.empty());
}

TEST(RedisUrl, RefusesWhatItCannotHonour) {
    for (const char* bad : {"", "http://x", "rediss://x:6379", "redis://", "redis://h:0",
                            "redis://h:70000", "redis://h:12ab", "redis://h/16", "redis://h/x",
                            "redis://[::1", "redis://u:%zz@h"}) {
        auto r = parse_url(bad);
        EXPECT_FALSE(r.ok()) << bad;
        if (!r.ok()) {
            EXPECT_EQ(r.status().code(), sdk::Errc::invalid_argument) << bad;
        }
    }
}

TEST(RedisReply, HelpersReadTypedValues) {
    Reply arr;
    arr.type = Reply::Type::array;
    Reply s;
    s.type = Reply::Type::string;
    s.str = "42";
    Reply i;
    i.type = Reply::Type::integer;
    i.integer = 7;
    arr.elements = {s, i};
    EXPECT_EQ(arr.at(0).as_integer(), 42);
    EXPECT_EQ(arr.at(1).as_integer(), 7);
    EXPECT_TRUE(arr.at(5).is_nil());
    EXPECT_EQ(arr.at(1).text(), "");
    EXPECT_EQ(arr.debug(), "[\"42\", 7]");
    Reply err;
    err.type = Reply::Type::error;
    err.str = "ERR boom";
    EXPECT_EQ(reply_status(err).code(), sdk::Errc::internal);
    EXPECT_TRUE(reply_status(s).ok());
    s.str = "4x";
    EXPECT_FALSE(s.as_integer().has_value());
}

TEST(RedisScript, Sha1MatchesWhatRedisComputes) {
    // SCRIPT LOAD "return 1" answers this digest.
    EXPECT_EQ(Script("return 1").sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

}  // namespace
}  // namespace agenthost::redis
