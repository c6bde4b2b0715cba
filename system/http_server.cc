// HttpServer on cpp-httplib, and the /healthz and source-metrics renderers.
// Thread-safety: see http_server.h.
#include "system/http_server.h"

#include <httplib.h>

#include <chrono>
#include <exception>
#include <sstream>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/redact.h"
#include "system/metrics.h"

namespace ingestlab {

struct HttpServer::Impl {
  httplib::Server server;
  std::vector<std::pair<std::string, std::function<HttpReply(const HttpRequest&)>>> prefixes;
  std::thread thread;
  int port = 0;
  bool running = false;
};

namespace {

void Send(const HttpReply& reply, httplib::Response& res) {
  res.status = reply.status;
  for (const auto& [name, value] : reply.headers) res.set_header(name.c_str(), value);
  res.set_content(reply.body, reply.content_type.c_str());
}

}  // namespace

HttpServer::HttpServer() : impl_(std::make_unique<Impl>()) {
  // httplib's default sets SO_REUSEPORT, which lets a second ingestd bind the same port silently.
  impl_->server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // Small answers on kept-alive connections: without NODELAY each waits for the peer's delayed
  // ACK (about 40 ms on Linux).
  impl_->server.set_tcp_nodelay(true);
  impl_->server.set_read_timeout(5, 0);
  impl_->server.set_write_timeout(5, 0);
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Handle(const std::string& path, std::function<HttpReply()> handler) {
  impl_->server.Get(path, [handler = std::move(handler)](const httplib::Request&,
                                                         httplib::Response& res) {
    HttpReply reply;
    try {
      reply = handler();
    } catch (const std::exception& e) {
      reply = {500, "text/plain; charset=utf-8", std::string("internal error: ") + e.what(), {}};
    }
    Send(reply, res);
  });
}

void HttpServer::HandlePrefix(const std::string& prefix,
                              std::function<HttpReply(const HttpRequest&)> handler) {
  Impl& d = *impl_;
  if (d.prefixes.empty()) {
    d.server.set_pre_routing_handler([&d](const httplib::Request& req, httplib::Response& res) {
      for (const auto& [start, route] : d.prefixes) {
        if (req.path.rfind(start, 0) != 0) continue;
        if (req.method != "GET") {
          Send({405, "application/json", "{\"error\":\"only GET is served here\"}\n", {}}, res);
          return httplib::Server::HandlerResponse::Handled;
        }
        HttpRequest request;
        request.path = req.path;
        for (const auto& [name, value] : req.params) request.query.emplace(name, value);
        request.authorization = req.get_header_value("Authorization");
        HttpReply reply;
        try {
          reply = route(request);
        } catch (const std::exception& e) {
          reply = {500, "application/json", "{\"error\":\"internal error\"}\n", {}};
          LOG(kError, "http") << "GET " << start << "...: " << e.what();
        }
        Send(reply, res);
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
  }
  d.prefixes.emplace_back(prefix, std::move(handler));
}

Status HttpServer::Start(const std::string& host, int port) {
  Impl& d = *impl_;
  if (d.running) return Status::Internal("http: already started");
  const std::string address = host + ":" + std::to_string(port);
  if (port == 0) {
    d.port = d.server.bind_to_any_port(host.c_str());
    if (d.port <= 0) return Status::Io("http: cannot bind " + address);
  } else {
    if (!d.server.bind_to_port(host.c_str(), port)) {
      return Status::Io("http: cannot bind " + address + " (in use, or a bad host)");
    }
    d.port = port;
  }
  d.thread = std::thread([&d] { d.server.listen_after_bind(); });
  // stop() only takes effect once the listen loop runs; wait for it (bounded).
  for (int i = 0; i < 2000 && !d.server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  d.running = true;
  return Status::Ok();
}

int HttpServer::port() const { return impl_->port; }

void HttpServer::Stop() {
  Impl& d = *impl_;
  if (!d.running) return;
  d.server.stop();
  if (d.thread.joinable()) d.thread.join();
  d.running = false;
}

namespace {

nlohmann::json SourceJson(const SourceHealth& h) {
  nlohmann::json lag = nlohmann::json::object();
  for (const auto& [name, n] : h.lag) lag[name] = n;
  return {{"connected", h.connected},
          {"detail", RedactText(h.detail)},
          {"reconnects", h.reconnects},
          {"in_flight", h.in_flight},
          {"lag", std::move(lag)}};
}

}  // namespace

HttpReply RenderHealthz(const HealthInputs& health) {
  nlohmann::json j;
  bool transports_ok = true;
  if (health.nats) {
    j["nats"] = SourceJson(*health.nats);
    transports_ok = transports_ok && health.nats->connected;
  }
  if (health.kafka) {
    j["kafka"] = SourceJson(*health.kafka);
    transports_ok = transports_ok && health.kafka->connected;
  }
  nlohmann::json db = {{"ok", health.db_ok}, {"path", health.db_path}};
  if (!health.db_ok) db["error"] = RedactText(health.db_error);
  j["db"] = std::move(db);
  j["last_commit_unix_ms"] = health.last_commit_unix_ms;
  j["queue"] = health.queue;
  j["uptime_s"] = health.uptime_s;
  if (!health.downstream_json.empty()) {
    j["downstream"] = nlohmann::json::parse(health.downstream_json, nullptr, false);
  }
  j["status"] = !health.db_ok ? "unavailable" : transports_ok ? "ok" : "degraded";
  HttpReply reply;
  reply.status = health.db_ok ? 200 : 503;
  reply.content_type = "application/json";
  reply.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return reply;
}

std::string RenderSourceMetrics(const HealthInputs& health) {
  std::ostringstream connected, in_flight, lag;
  auto add = [&](const char* transport, const std::optional<SourceHealth>& h) {
    if (!h) return;
    const std::string t = RenderLabels({{"transport", transport}});
    connected << "ingest_source_connected" << t << ' ' << (h->connected ? 1 : 0) << '\n';
    in_flight << "ingest_source_in_flight" << t << ' ' << h->in_flight << '\n';
    for (const auto& [consumer, n] : h->lag) {
      lag << "ingest_source_lag" << RenderLabels({{"transport", transport}, {"consumer", consumer}})
          << ' ' << n << '\n';
    }
  };
  add("nats", health.nats);
  add("kafka", health.kafka);
  std::ostringstream os;
  os << "# HELP ingest_source_connected 1 while the transport is connected\n"
     << "# TYPE ingest_source_connected gauge\n"
     << connected.str()
     << "# HELP ingest_source_in_flight Messages submitted to the pipeline, not yet settled\n"
     << "# TYPE ingest_source_in_flight gauge\n"
     << in_flight.str()
     << "# HELP ingest_source_lag Messages not yet delivered, per consumer or partition\n"
     << "# TYPE ingest_source_lag gauge\n"
     << lag.str();
  return os.str();
}

}  // namespace ingestlab
