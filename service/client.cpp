#include "service/client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "common/backoff.h"
#include "common/error.h"
#include "common/shutdown.h"
#include "service/awaitable.h"
#include "service/tokens.h"

namespace switchyard::service {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

constexpr auto kFindTimeout = std::chrono::seconds(2);
// A POST of a cutover answers after its preflight (and the preparation
// before the freeze): seconds, on a busy database a minute.
constexpr auto kRequestTimeout = std::chrono::minutes(5);

// The token the CLI presents: SWITCHYARD_TOKEN, or the only one of a
// tokens file this user may read. Empty when there is neither.
std::string cli_token(const Config& config, std::string* why) {
  if (const char* token = std::getenv("SWITCHYARD_TOKEN"); token != nullptr && *token != '\0') {
    return token;
  }
  if (config.service.tokens_file.empty()) {
    *why = "the service has no service.tokens_file: it takes no changes over its API";
    return {};
  }
  try {
    const Tokens tokens = Tokens::load(config.service.tokens_file);
    if (tokens.size() == 1) return tokens.only_token();
    *why = "service.tokens_file holds " + std::to_string(tokens.size()) +
           " tokens: set SWITCHYARD_TOKEN to yours";
  } catch (const Error& error) {
    *why = std::string(error.what()) + "; set SWITCHYARD_TOKEN to a token of it";
  }
  return {};
}

template <typename Stream>
asio::awaitable<ClientAnswer> exchange(Stream& stream, http::request<http::string_body> request) {
  auto [write_error, written] = co_await http::async_write(stream, request, kAwait);
  (void)written;
  if (write_error) throw beast::system_error(write_error);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  auto [read_error, read] = co_await http::async_read(stream, buffer, parser, kAwait);
  (void)read;
  if (read_error) throw beast::system_error(read_error);
  const auto response = parser.release();
  ClientAnswer answer;
  answer.status = response.result_int();
  boost::system::error_code json_error;
  answer.body = boost::json::parse(response.body(), json_error);
  if (json_error) answer.body = nullptr;
  co_return answer;
}

}  // namespace

Client::Client(const Config& config) : config_(&config) {
  const bool v6 = config.service.host.find(':') != std::string::npos;
  url_ = std::string(config.service.tls_cert.empty() ? "http" : "https") + "://" +
         (v6 ? "[" + config.service.host + "]" : config.service.host) + ":" +
         std::to_string(config.service.port);
}

std::optional<Client> Client::find(const Config& config) {
  Client client(config);
  ClientAnswer answer;
  try {
    answer = client.request("GET", "/api/v1/service", {});
  } catch (const Error& error) {
    if (error.kind() == ErrorKind::kConnection) return std::nullopt;  // nothing listens
    throw;
  }
  const auto* body = answer.body.if_object();
  const auto* stream = body ? body->if_contains("stream") : nullptr;
  if (answer.status != 200 || !stream || !stream->is_string()) {
    throw Error(ErrorKind::kPrecondition,
                "service.listen " + client.url_ + " answers (HTTP " +
                    std::to_string(answer.status) +
                    "), but not as a switchyard serve; is another program listening there?");
  }
  if (stream->as_string() != config.name) {
    throw Error(ErrorKind::kPrecondition,
                "service.listen " + client.url_ + " is the switchyard serve of stream '" +
                    std::string(stream->as_string()) + "', not of '" + config.name +
                    "': give each configuration its own service.listen");
  }
  return client;
}

ClientAnswer Client::get(const std::string& target) const {
  std::string ignored;
  return request("GET", target, cli_token(*config_, &ignored));
}

ClientAnswer Client::post(const std::string& target) const {
  std::string why;
  const std::string token = cli_token(*config_, &why);
  if (token.empty()) {
    throw Error(ErrorKind::kUsage, "serve runs stream '" + config_->name + "' at " + url_ +
                                       " and does this; it needs a token: " + why);
  }
  return request("POST", target, token);
}

boost::json::value Client::wait_for_run(const std::string& run_id) const {
  while (true) {
    const ClientAnswer answer = get("/api/v1/runs/" + run_id);
    const auto* body = answer.body.if_object();
    if (answer.status != 200 || !body) {
      throw Error(ErrorKind::kInternal,
                  "serve lost run " + run_id + " (HTTP " + std::to_string(answer.status) + ")");
    }
    const auto* state = body->if_contains("state");
    if (state && state->is_string() && state->as_string() != "running") return answer.body;
    // The run goes on in the service whatever this process does: a stop
    // here only stops watching it.
    if (!sleep_unless_stopped(std::chrono::milliseconds(250))) {
      throw Error(ErrorKind::kInterrupted, "stopped watching run " + run_id +
                                               "; it goes on in serve (GET " + url_ +
                                               "/api/v1/runs/" + run_id + ")");
    }
  }
}

ClientAnswer Client::request(const std::string& method, const std::string& target,
                             const std::string& token) const {
  const bool find = target == "/api/v1/service";
  const auto timeout = find ? std::chrono::duration_cast<std::chrono::seconds>(kFindTimeout)
                            : std::chrono::duration_cast<std::chrono::seconds>(kRequestTimeout);
  http::request<http::string_body> out{http::string_to_verb(method), target, 11};
  out.set(http::field::host, config_->service.host);
  out.set(http::field::user_agent, "switchyard-cli");
  if (!token.empty()) out.set(http::field::authorization, "Bearer " + token);
  out.prepare_payload();

  asio::io_context io;
  std::optional<ClientAnswer> answer;
  std::exception_ptr failure;
  const std::string port = std::to_string(config_->service.port);
  std::unique_ptr<ssl::context> tls;
  if (!config_->service.tls_cert.empty()) {
    tls = std::make_unique<ssl::context>(ssl::context::tls_client);
    tls->load_verify_file(config_->service.tls_cert);
    tls->set_verify_mode(ssl::verify_peer);
  }
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<ClientAnswer> {
        tcp::resolver resolver(io);
        auto [resolve_error, found] =
            co_await resolver.async_resolve(config_->service.host, port, kAwait);
        if (resolve_error) throw beast::system_error(resolve_error);
        beast::tcp_stream plain(io);
        plain.expires_after(timeout);
        auto [connect_error, endpoint] = co_await plain.async_connect(found, kAwait);
        (void)endpoint;
        if (connect_error) throw beast::system_error(connect_error);
        if (!tls) co_return co_await exchange(plain, std::move(out));
        beast::ssl_stream<beast::tcp_stream> secure(std::move(plain), *tls);
        auto [handshake_error] = co_await secure.async_handshake(ssl::stream_base::client, kAwait);
        if (handshake_error) throw beast::system_error(handshake_error);
        co_return co_await exchange(secure, std::move(out));
      },
      [&](std::exception_ptr error, ClientAnswer result) {
        if (error) {
          failure = error;
        } else {
          answer = std::move(result);
        }
      });
  io.run();
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const beast::system_error& error) {
      throw Error(ErrorKind::kConnection, "serve at " + url_ + ": " + method + " " + target + ": " +
                                              error.code().message());
    }
  }
  return *answer;
}

}  // namespace switchyard::service
