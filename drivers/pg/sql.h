// Building PostgreSQL SQL text safely: identifier and literal quoting, and
// the redaction of connection strings for logs. Pure functions, no libpq
// connection needed.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard::pg {

// "My Table" -> "\"My Table\"". Always quotes, so case and keywords survive.
std::string quote_ident(std::string_view name);
// schema + name -> "schema"."name"
std::string qualified(std::string_view schema, std::string_view name);
// It's -> 'It''s' (standard_conforming_strings=on, the default since 9.1).
std::string quote_literal(std::string_view text);
// ["a","b"] -> "a", "b" (each quoted)
std::string ident_list(const std::vector<std::string>& names);

// Throws Error(kUsage) if the conninfo does not parse; `what` names it
// ("source.conninfo").
void validate_conninfo(const std::string& conninfo, const std::string& what);
// "host=10.0.0.5 port=5432 dbname=app user=postgres" - never the password.
std::string describe_conninfo(const std::string& conninfo);
// A conninfo for a client program's command line, which `ps` shows to
// every user of the machine: every parameter set but the password, as
// key='value' (a URI too), and the password apart, for the program's
// environment (PGPASSWORD, which only its user can read). No password
// (unset or empty): libpq's defaults (PGPASSWORD, ~/.pgpass) apply, as for
// switchyard. Throws Error(kUsage) naming `what` if it does not parse,
// without echoing it.
struct ConninfoForCommandLine {
  std::string conninfo;
  std::string password;  // empty when none
};
ConninfoForCommandLine conninfo_for_command_line(const std::string& conninfo,
                                                 const std::string& what);
// The given keywords of a conninfo that are set, as "key=value ..." in that
// order (values without spaces: host names, ports, database names).
std::string conninfo_subset(const std::string& conninfo,
                            std::initializer_list<const char*> keywords);

}  // namespace switchyard::pg
