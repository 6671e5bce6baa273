#include "service/http_server.h"

#include <prometheus/counter.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/src.hpp>  // Boost.URL, header-only: Debian builds no library of it
#include <chrono>

#include "common/error.h"
#include "common/metrics.h"
#include "common/shutdown.h"
#include "service/awaitable.h"

namespace switchyard::service {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

constexpr uint32_t kHeaderLimit = 8 * 1024;
constexpr uint64_t kBodyLimit = 64 * 1024;
constexpr size_t kReadBuffer = 16 * 1024;
constexpr auto kReadDeadline = std::chrono::seconds(30);
constexpr auto kStopCheck = std::chrono::milliseconds(100);
constexpr int kMaxEventStreams = 16;
constexpr auto kEventPeriod = std::chrono::seconds(1);
constexpr auto kEventKeepAlive = std::chrono::seconds(15);

prometheus::Family<prometheus::Counter>& requests_total() {
  static auto& family = prometheus::BuildCounter()
                            .Name("switchyard_http_requests_total")
                            .Help("HTTP requests answered, by handler and status code.")
                            .Register(metrics::registry());
  return family;
}

void count(const std::string& handler, http::status status) {
  requests_total()
      .Add({{"handler", handler}, {"code", std::to_string(static_cast<unsigned>(status))}})
      .Increment();
}

Response plain(unsigned version, http::status status, std::string body) {
  Response response{status, version};
  response.set(http::field::content_type, "text/plain; charset=utf-8");
  response.body() = std::move(body);
  response.keep_alive(false);
  response.prepare_payload();
  return response;
}

}  // namespace

std::string_view path_of(const Request& request) {
  const std::string_view target = request.target();
  return target.substr(0, target.find('?'));
}

std::optional<std::string> query_parameter(const Request& request, std::string_view name) {
  const auto url = boost::urls::parse_origin_form(request.target());
  if (!url) {
    throw Error(ErrorKind::kUsage, "bad request target: " + url.error().message());
  }
  const auto params = url->params();
  const auto found = params.find(name);
  if (found == params.end()) return std::nullopt;
  return (*found).has_value ? std::string((*found).value) : std::string();
}

Response respond(const Request& request, http::status status, std::string body,
                 std::string_view content_type) {
  Response response{status, request.version()};
  response.set(http::field::content_type, content_type);
  response.set(http::field::cache_control, "no-store");
  response.keep_alive(request.keep_alive());
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

struct HttpServer::Impl {
  asio::io_context io{1};
  int event_streams = 0;              // open ones (the io thread only)
  std::unique_ptr<ssl::context> tls;  // null: plain HTTP
  tcp::acceptor acceptor{io};
  asio::thread_pool workers{2};
  std::vector<Route> routes;

  static bool names(const Route& route, std::string_view path) {
    return route.prefix ? path.starts_with(route.path) : route.path == path;
  }

  const Route* route_of(const Request& request) const {
    const std::string_view path = path_of(request);
    for (const Route& route : routes) {
      if (names(route, path) && route.method == request.method()) return &route;
    }
    return nullptr;
  }

  // The route's answer, or 404/405; the handler's name for the metrics.
  Response answer(const Request& request, std::string& handler) const {
    const std::string_view path = path_of(request);
    bool path_known = false;
    std::string allowed;
    for (const Route& route : routes) {
      if (!names(route, path)) continue;
      path_known = true;
      allowed += (allowed.empty() ? "" : ", ") + std::string(http::to_string(route.method));
      if (route.method != request.method()) continue;
      handler = route.handler;
      try {
        return route.answer(request);
      } catch (const std::exception& error) {
        if (const auto* bad = dynamic_cast<const Error*>(&error);
            bad && bad->kind() == ErrorKind::kUsage) {
          return respond(request, http::status::bad_request, std::string(error.what()) + "\n",
                         "text/plain; charset=utf-8");
        }
        spdlog::warn("serve: {} {}: {}", std::string(request.method_string()), std::string(path),
                     error.what());
        return respond(request, http::status::internal_server_error,
                       std::string(error.what()) + "\n", "text/plain; charset=utf-8");
      }
    }
    handler = "other";
    if (!path_known) {
      return respond(request, http::status::not_found, "no such resource\n",
                     "text/plain; charset=utf-8");
    }
    Response response = respond(request, http::status::method_not_allowed,
                                "allowed: " + allowed + "\n", "text/plain; charset=utf-8");
    response.set(http::field::allow, allowed);
    return response;
  }

  // One connection: plain TCP, or TLS when the server has a certificate.
  asio::awaitable<void> session(tcp::socket socket) {
    beast::tcp_stream plain(std::move(socket));
    if (!tls) {
      co_await serve_requests(plain);
      beast::error_code ignored;
      plain.socket().shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(std::move(plain), *tls);
    beast::get_lowest_layer(stream).expires_after(kReadDeadline);
    auto [handshake_error] = co_await stream.async_handshake(ssl::stream_base::server, kAwait);
    if (handshake_error) co_return;  // not TLS, or no common ground: nothing to say
    co_await serve_requests(stream);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
    co_await stream.async_shutdown(kAwait);
  }

  // The requests of one connection, answered in turn.
  template <typename Stream>
  asio::awaitable<void> serve_requests(Stream& stream) {
    // Bounded: a header block, or a chunked body's trailer (which Beast
    // checks against no limit, and throws on a field longer than 64 KiB),
    // must fit in it; a body passes through it a piece at a time.
    beast::flat_buffer buffer(kReadBuffer);
    while (true) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(kHeaderLimit);
      parser.body_limit(kBodyLimit);
      beast::get_lowest_layer(stream).expires_after(kReadDeadline);
      auto [read_error, bytes] = co_await http::async_read(stream, buffer, parser, kAwait);
      (void)bytes;
      if (read_error) {
        // A client that closed or went silent gets nothing; a request that
        // does not parse is told why, once, and the connection closed.
        if (read_error == http::error::end_of_stream || read_error == beast::error::timeout ||
            read_error == asio::error::eof || read_error == asio::error::connection_reset ||
            read_error == asio::error::operation_aborted) {
          break;
        }
        http::status status = http::status::bad_request;
        if (read_error == http::error::body_limit) status = http::status::payload_too_large;
        if (read_error == http::error::header_limit || read_error == http::error::buffer_overflow) {
          status = http::status::request_header_fields_too_large;
        }
        count("other", status);
        Response refusal = plain(11, status, "bad request: " + read_error.message() + "\n");
        co_await http::async_write(stream, refusal, kAwait);
        break;
      }
      const Request request = parser.release();
      const Route* route = route_of(request);
      std::string handler;
      Response response;
      if (route != nullptr && route->touches_databases) {
        response = co_await asio::co_spawn(
            workers, [&]() -> asio::awaitable<Response> { co_return answer(request, handler); },
            asio::use_awaitable);
      } else {
        response = answer(request, handler);
      }
      if (route != nullptr && route->events && response.result() == http::status::ok) {
        if (event_streams >= kMaxEventStreams) {
          response = respond(request, http::status::service_unavailable,
                             "too many event streams open\n", "text/plain; charset=utf-8");
        } else {
          count(handler, response.result());
          co_await send_events(stream, *route);
          break;
        }
      }
      count(handler, response.result());
      // The answer may have taken a while.
      beast::get_lowest_layer(stream).expires_after(kReadDeadline);
      const bool keep_alive = response.keep_alive();
      auto [write_error, written] = co_await http::async_write(stream, response, kAwait);
      (void)written;
      if (write_error || !keep_alive) break;
    }
  }

  // The header, then an event whenever the route's poller has one, until
  // the client goes or the server stops. No length: the body ends when the
  // connection closes.
  template <typename Stream>
  asio::awaitable<void> send_events(Stream& stream, const Route& route) {
    ++event_streams;
    struct Closed {
      int& open;
      ~Closed() { --open; }
    } closed{event_streams};
    const auto poll = route.events();
    std::string out =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
        "Connection: close\r\n\r\n" +
        poll();
    asio::steady_timer timer(io);
    auto quiet_since = std::chrono::steady_clock::now();
    while (!stop_requested()) {
      if (out.empty() && std::chrono::steady_clock::now() - quiet_since >= kEventKeepAlive) {
        out = ": keep-alive\n\n";  // a comment: proxies keep the connection
      }
      if (!out.empty()) {
        beast::get_lowest_layer(stream).expires_after(kReadDeadline);
        auto [error, written] = co_await asio::async_write(stream, asio::buffer(out), kAwait);
        (void)written;
        if (error) break;
        out.clear();
        quiet_since = std::chrono::steady_clock::now();
      }
      timer.expires_after(kEventPeriod);
      co_await timer.async_wait(kAwait);
      out = poll();
    }
  }

  asio::awaitable<void> accept() {
    while (acceptor.is_open()) {
      auto [error, socket] = co_await acceptor.async_accept(kAwait);
      if (error == asio::error::operation_aborted) break;
      if (error) continue;  // a client gone before it was accepted
      // Whatever one connection throws ends that connection alone.
      asio::co_spawn(io, session(std::move(socket)), [](const std::exception_ptr& thrown) {
        if (!thrown) return;
        try {
          std::rethrow_exception(thrown);
        } catch (const std::exception& failure) {
          spdlog::warn("serve: a connection ended on an error: {}", failure.what());
        }
      });
    }
  }

  asio::awaitable<void> watch_stop() {
    asio::steady_timer timer(io);
    while (!stop_requested()) {
      timer.expires_after(kStopCheck);
      co_await timer.async_wait(kAwait);
    }
    beast::error_code ignored;
    acceptor.close(ignored);
    io.stop();
  }
};

HttpServer::HttpServer(const std::string& host, uint16_t port, std::vector<Route> routes,
                       const TlsFiles& tls)
    : impl_(std::make_unique<Impl>()) {
  impl_->routes = std::move(routes);
  if (!tls.certificate.empty()) {
    // TLS 1.2 and later; the certificate chain and its key checked now, so
    // that a bad file is refused before anything starts.
    auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
    context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    beast::error_code error;
    context->use_certificate_chain_file(tls.certificate, error);
    if (error) {
      throw Error(ErrorKind::kUsage,
                  "service.tls_cert: cannot use " + tls.certificate + ": " + error.message());
    }
    context->use_private_key_file(tls.key, ssl::context::pem, error);
    if (error) {
      throw Error(ErrorKind::kUsage, "service.tls_key: cannot use " + tls.key + ": " +
                                         error.message() + " (is it the key of service.tls_cert?)");
    }
    impl_->tls = std::move(context);
  }
  const std::string where = host + ":" + std::to_string(port);
  beast::error_code error;
  const auto address = asio::ip::make_address(host, error);
  tcp::endpoint endpoint;
  if (!error) {
    endpoint = tcp::endpoint(address, port);
  } else {
    tcp::resolver resolver(impl_->io);
    const auto found = resolver.resolve(host, std::to_string(port), error);
    if (error || found.empty()) {
      throw Error(ErrorKind::kUsage,
                  "service.listen: cannot resolve '" + host + "': " + error.message());
    }
    endpoint = *found.begin();
  }
  impl_->acceptor.open(endpoint.protocol(), error);
  if (!error) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), error);
  if (!error) impl_->acceptor.bind(endpoint, error);
  if (!error) impl_->acceptor.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    throw Error(ErrorKind::kUsage,
                "service.listen: cannot listen on " + where + ": " + error.message());
  }
}

HttpServer::~HttpServer() {
  impl_->workers.stop();
  impl_->workers.join();
}

std::string HttpServer::address() const {
  const tcp::endpoint local = impl_->acceptor.local_endpoint();
  const std::string host = local.address().to_string();
  const bool v6 = local.address().is_v6();
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(local.port());
}

void HttpServer::serve() {
  asio::co_spawn(impl_->io, impl_->accept(), asio::detached);
  asio::co_spawn(impl_->io, impl_->watch_stop(), asio::detached);
  // A handler that throws outside a connection's coroutine (inside one of
  // Beast's operations) unwinds run(): the service logs it and runs on, so
  // that the stream and verify jobs do not stop for one bad request. That
  // connection's coroutine is never resumed (its socket stays open until
  // serve exits); the bounded read buffer keeps the one known case out.
  while (true) {
    try {
      impl_->io.run();
      return;
    } catch (const std::exception& failure) {
      spdlog::warn("serve: an HTTP handler failed: {}", failure.what());
    }
  }
}

}  // namespace switchyard::service
