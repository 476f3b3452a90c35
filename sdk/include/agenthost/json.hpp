#pragma once
// JSON value types used across the SDK (Boost.JSON). The Boost version is part of
// the ABI tag, so sharing these types between kernel and plugins is safe.

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>

namespace agenthost::sdk {
namespace json = boost::json;
}  // namespace agenthost::sdk
