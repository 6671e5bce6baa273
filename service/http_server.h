// The service's HTTP/1.1 server, on Boost.Beast and Asio, serving on the
// thread that calls serve() (answers that wait on a database on two worker
// threads), and server-sent-events streams. Each connection's requests are read with their
// header and body bounded (8 KiB, 64 KiB) and a deadline (30 s), answered by
// the route their method and path name, and the connection is kept while the
// client asks for it. A request that does not parse gets 400 (413 or 431
// when too large) and the connection is closed; a path without a route gets
// 404, a route asked with another method 405; what a route throws becomes a
// 500 naming the error. Every answer is counted in
// switchyard_http_requests_total{handler,code}.
#pragma once

#include <boost/beast/http.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard::service {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

struct Route {
  http::verb method;
  std::string path;     // exact: "/api/v1/status"; with `prefix`, what it starts with
  std::string handler;  // its label in the metrics: "status"
  std::function<Response(const Request&)> answer;
  // Whether answering waits on a database: then it runs on a worker thread,
  // so that a database that does not answer holds up only its own requests
  // (never /healthz or /metrics).
  bool touches_databases = false;
  // Whether `path` names every path under it ("/api/v1/runs/" for
  // "/api/v1/runs/12").
  bool prefix = false;
  // A server-sent-events stream: when set and `answer` says 200, the
  // connection stays open and gets what a poller made for it returns, once
  // a second ("" sends nothing), until the client leaves or the server
  // stops. At most 16 such streams at once; more get 503.
  std::function<std::function<std::string()>()> events = nullptr;
};

// The request's path without its query: "/api/v1/runs/12".
std::string_view path_of(const Request& request);
// The query parameter `name`, percent-decoded ("dry_run" of
// "/api/v1/cutover?dry_run=true"); nullopt when absent. Throws
// Error(kUsage) for a target that is not a valid URL path and query.
std::optional<std::string> query_parameter(const Request& request, std::string_view name);

// A response to `request` (its HTTP version and keep-alive) with `body`.
Response respond(const Request& request, http::status status, std::string body,
                 std::string_view content_type);

// A PEM certificate chain and its private key: the server speaks HTTPS.
struct TlsFiles {
  std::string certificate;  // empty: plain HTTP
  std::string key;
};

class HttpServer {
 public:
  // Binds and listens; throws Error(kUsage) naming service.listen when the
  // address cannot be had (in use, not an address of this host), and
  // service.tls_cert or tls_key when those cannot be used.
  HttpServer(const std::string& host, uint16_t port, std::vector<Route> routes,
             const TlsFiles& tls = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Where it listens, the port resolved ("127.0.0.1:8474").
  std::string address() const;
  // Serves on the calling thread until stop_requested().
  void serve();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace switchyard::service
