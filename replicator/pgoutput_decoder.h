// Decoder for pgoutput, PostgreSQL's built-in logical decoding output
// plugin (protocol version 1, the messages of a committed transaction).
//
// decode() turns one XLogData payload into a typed message. It is a pure
// function over bytes: no connection, no state, so it is unit-tested with
// hand-built buffers. Relation and Type messages describe the schema that
// later Insert/Update/Delete messages refer to by relation id; keeping that
// map is the caller's job (see apply_loop.h).
//
// Malformed input throws Error(kDatabase) naming the message type and the
// offset at fault.
#pragma once

#include <string_view>

#include "replicator/change.h"

namespace switchyard::pgoutput {

// One XLogData payload as a change-feed message.
change::Message decode(std::string_view payload);

}  // namespace switchyard::pgoutput
