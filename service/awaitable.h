// How the service's coroutines await Asio operations: as a tuple of the
// error code and the results, so that a failed read or write is a value to
// look at rather than an exception.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace switchyard::service {

inline constexpr auto kAwait = boost::asio::as_tuple(boost::asio::use_awaitable);

}  // namespace switchyard::service
