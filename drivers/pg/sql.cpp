#include "drivers/pg/sql.h"

#include <libpq-fe.h>

#include <memory>

#include "common/error.h"

namespace switchyard::pg {

std::string quote_ident(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out.push_back('"');
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string qualified(std::string_view schema, std::string_view name) {
  return quote_ident(schema) + "." + quote_ident(name);
}

std::string quote_literal(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('\'');
  for (char c : text) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

std::string ident_list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += ", ";
    out += quote_ident(name);
  }
  return out;
}

namespace {

struct OptionsDeleter {
  void operator()(PQconninfoOption* options) const { PQconninfoFree(options); }
};
using Options = std::unique_ptr<PQconninfoOption, OptionsDeleter>;

// libpq's parse errors quote the text they stumbled on (missing "=" after
// "s3cret" in connection info string), which may be a password typed in
// the wrong place: every quoted fragment is left out.
std::string without_quoted_text(std::string_view message) {
  std::string out;
  bool quoted = false;
  for (char c : message) {
    if (c == '"') {
      if (!quoted) out += "\"…\"";
      quoted = !quoted;
      continue;
    }
    if (!quoted) out += c;
  }
  return out;
}

Options parse(const std::string& conninfo, std::string* error) {
  char* errmsg = nullptr;
  Options options(PQconninfoParse(conninfo.c_str(), &errmsg));
  if (!options) {
    std::string message = errmsg ? without_quoted_text(errmsg) : "out of memory";
    if (errmsg) PQfreemem(errmsg);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' '))
      message.pop_back();
    *error = message + " (quoted text not shown: it may be a password)";
  }
  return options;
}

}  // namespace

void validate_conninfo(const std::string& conninfo, const std::string& what) {
  std::string error;
  if (!parse(conninfo, &error)) {
    throw Error(ErrorKind::kUsage, what + ": invalid connection string: " + error);
  }
}

std::string describe_conninfo(const std::string& conninfo) {
  std::string out = conninfo_subset(conninfo, {"host", "hostaddr", "port", "dbname", "user"});
  return out.empty() ? "(libpq defaults)" : out;
}

ConninfoForCommandLine conninfo_for_command_line(const std::string& conninfo,
                                                 const std::string& what) {
  std::string error;
  Options options = parse(conninfo, &error);
  if (!options) throw Error(ErrorKind::kUsage, what + ": invalid connection string: " + error);
  ConninfoForCommandLine out;
  for (auto* option = options.get(); option->keyword; ++option) {
    if (!option->val) continue;
    const std::string_view keyword = option->keyword;
    if (keyword == "password") {
      out.password = option->val;
      continue;
    }
    std::string value = "'";
    for (const char* c = option->val; *c; ++c) {
      if (*c == '\\' || *c == '\'') value += '\\';
      value += *c;
    }
    if (!out.conninfo.empty()) out.conninfo += ' ';
    out.conninfo += std::string(keyword) + "=" + value + "'";
  }
  return out;
}

std::string conninfo_subset(const std::string& conninfo,
                            std::initializer_list<const char*> keywords) {
  std::string error;
  Options options = parse(conninfo, &error);
  if (!options) return "(invalid conninfo)";
  std::string out;
  for (const char* wanted : keywords) {
    for (auto* option = options.get(); option->keyword; ++option) {
      if (option->val && *option->val && std::string_view(option->keyword) == wanted) {
        if (!out.empty()) out += ' ';
        out += std::string(wanted) + "=" + option->val;
      }
    }
  }
  return out;
}

}  // namespace switchyard::pg
