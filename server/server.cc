// herald::Server — the worker loops, the HTTP listener and the node's own
// endpoints (/healthz, /metrics), wired to one Broker.
#include "herald/server.h"

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "base/thread_name.h"
#include "cluster/cluster.h"
#include "frontends/grpc/grpc_front.h"
#include "frontends/http/http_server.h"
#include "frontends/http/router.h"
#include "frontends/rest/rest_api.h"
#include "frontends/sse/event_id.h"
#include "frontends/sse/sse_front.h"
#include "frontends/static/static_site.h"
#include "frontends/ws/ws_front.h"
#include "io/tls_context.h"
#include "io/worker_pool.h"
#include "server/broker_metrics.h"
#include "server/cluster_metrics.h"
#include "server/grpc_metrics.h"
#include "server/hook_metrics.h"
#include "server/http_metrics.h"
#include "server/readiness.h"
#include "server/readiness_metrics.h"
#include "server/sse_metrics.h"
#include "server/tls_metrics.h"
#include "server/worker_inboxes.h"
#include "server/ws_metrics.h"

namespace herald {
namespace server {
// The demo chat page (web/), compiled in by server/CMakeLists.txt.
std::map<std::string, std::string_view, std::less<>> EmbeddedSite();
}  // namespace server

namespace {

// What Start() makes from the options before anything runs: every file
// read and parsed. Check() makes it too, and drops it.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};

Result<HostPort> ParseHostPort(const char* key, const std::string& listen) {
  HostPort a;
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Status(ErrorCode::kInvalidArgument, std::string(key) + ": expected HOST:PORT");
  }
  a.host = listen.substr(0, colon);
  if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']') {
    a.host = a.host.substr(1, a.host.size() - 2);
  }
  int port = -1;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (...) {
  }
  if (port < 0 || port > 65535) {
    return Status(ErrorCode::kInvalidArgument, std::string(key) + ": bad port in '" + listen + "'");
  }
  a.port = static_cast<uint16_t>(port);
  return a;
}

struct Prepared {
  std::optional<HostPort> plain;  // none: HTTPS only
  std::optional<HostPort> tls;
  std::shared_ptr<const io::TlsContext> tls_context;  // with tls.listen or tls.grpc_listen
  std::optional<statics::StaticSite> site;
  std::shared_ptr<const auth::JwtVerifier> verifier;  // null: no authentication
};

// The SSE front's limits: an event id must fit in the browser's reconnect
// with room to spare (the URL and other headers), so at most half of the
// header limit.
SseLimits SseLimitsOf(const ServerOptions& o) {
  SseLimits l = o.sse;
  while (l.max_id_topics > 1 &&
         sse::MaxEventIdBytes(l.max_id_topics) > o.http.max_header_bytes / 2) {
    --l.max_id_topics;
  }
  return l;
}

Result<Prepared> Prepare(const ServerOptions& o) {
  Prepared p;
  if (!o.listen.empty() || o.tls.listen.empty()) {
    Result<HostPort> plain = ParseHostPort("listen", o.listen);
    if (!plain.ok()) return plain.status();
    p.plain = std::move(*plain);
  }
  if (!o.tls.listen.empty()) {
    Result<HostPort> tls = ParseHostPort("tls.listen", o.tls.listen);
    if (!tls.ok()) return tls.status();
    p.tls = std::move(*tls);
  }
  if (!o.tls.listen.empty() || !o.tls.grpc_listen.empty()) {
    // Every file read and checked now: a bad certificate stops the start.
    Result<std::shared_ptr<const io::TlsContext>> c = io::TlsContext::Create(o.tls);
    if (!c.ok()) return c.status();
    p.tls_context = std::move(*c);
  }
  if (!o.static_dir.empty()) {
    Result<statics::StaticSite> site = statics::StaticSite::FromDirectory(o.static_dir);
    if (!site.ok()) return site.status();
    p.site = std::move(*site);
  } else if (o.demo_page) {
    p.site = statics::StaticSite::FromMemory(server::EmbeddedSite());
  }
  if (!o.auth.keys.empty() || !o.auth.rules.empty() ||
      o.auth.anonymous != AuthOptions::Anonymous::kDefault) {
    Result<std::shared_ptr<const auth::JwtVerifier>> v = auth::JwtVerifier::Create(o.auth);
    if (!v.ok()) return v.status();
    p.verifier = std::move(*v);
  }
  if (!o.cluster.listen.empty()) {
    // A peer bypasses [auth] entirely: with authenticated clients, joining
    // must be as hard as being an admin (docs/SECURITY.md).
    if (Status s = cluster::CheckPeerAuthPolicy(o.cluster, p.verifier != nullptr); !s.ok()) {
      return s;
    }
    // Its certificate, key and CA files (Cluster::Start reads them again).
    if (Result<cluster::PeerCredentials> c = cluster::MakePeerCredentials(o.cluster); !c.ok()) {
      return c.status();
    }
  }
  return p;
}

}  // namespace

class Server::Impl {
 public:
  Impl(Broker& broker, ServerOptions options) : broker_(broker), options_(std::move(options)) {}

  Status Start() {
    if (running_) return Status(ErrorCode::kInvalidArgument, "server already started");
    {
      std::lock_guard lock(reload_mu_);
      live_.reset();  // what a reload compares with: these options
      grpc_tls_.reset();
    }
    {
      std::lock_guard lock(reload_thread_mu_);
      reload_stopping_ = false;
    }
    const size_t workers = options_.workers > 0 ? static_cast<size_t>(options_.workers)
                                                : std::max(1u, std::thread::hardware_concurrency());
    Result<Prepared> prepared = Prepare(options_);
    if (!prepared.ok()) return prepared.status();
    site_ = std::move(prepared->site);
    verifier_ = std::move(prepared->verifier);
    // The cluster first: local subscriptions made from here on are announced
    // to peers, and publishes go to their topics' owners.
    if (!options_.cluster.listen.empty()) {
      cluster_ = std::make_unique<cluster::Cluster>(broker_, options_.cluster);
      if (Status s = cluster_->Start(); !s.ok()) {
        cluster_.reset();
        return s;
      }
    }
    readiness_ = std::make_unique<server::Readiness>(broker_, cluster_.get(), options_.readiness);
    if (Status s = readiness_->Start(); !s.ok()) {
      readiness_.reset();
      cluster_.reset();
      return s;
    }
    if (options_.hooks.hooks) {
      hooks_ = std::make_shared<session::HookGate>(options_.hooks,
                                                   broker_.options().presence.max_info_bytes);
    }
    rest::RestOptions rest_options{.verifier = verifier_, .hooks = hooks_};
    if (options_.reload_handler) {
      rest_options.reload = [this](std::function<void(Result<ReloadReport>)> done) {
        StartReload(std::move(done));
      };
    }
    rest_ = std::make_unique<rest::RestApi>(broker_, std::move(rest_options));
    pool_ = std::make_unique<io::WorkerPool>(workers);
    if (Status s = pool_->Start(); !s.ok()) {
      readiness_.reset();
      cluster_.reset();
      return s;
    }
    inboxes_ = std::make_unique<server::WorkerInboxes>(broker_, *pool_);
    // Each front takes its public limits as they are, plus run-time wiring.
    ws::WsOptions ws_options(options_.websocket);
    ws_options.verifier = verifier_;
    ws_options.hooks = hooks_;
    sse::SseOptions sse_options(SseLimitsOf(options_));
    sse_options.verifier = verifier_;
    sse_options.hooks = hooks_;
    ws_ = std::make_unique<ws::WsFront>(
        broker_, std::move(ws_options),
        [inboxes = inboxes_.get()](const io::Loop* loop) { return inboxes->For(loop); });
    sse_ = std::make_unique<sse::SseFront>(
        broker_, std::move(sse_options),
        [inboxes = inboxes_.get()](const io::Loop* loop) { return inboxes->For(loop); });
    http_ =
        std::make_unique<http::HttpServer>(*pool_, http::HttpOptions(options_.http), MakeRouter());
    if (prepared->tls_context) {  // the HTTPS listener's, and the certificate gauges' too
      tls_ = std::make_shared<io::TlsServer>(prepared->tls_context, options_.tls.handshake_timeout);
    }
    BuildMetrics();  // before anyone can ask for /metrics
    Status listening = Status::Ok();
    if (prepared->plain) listening = http_->Listen(prepared->plain->host, prepared->plain->port);
    if (listening.ok() && prepared->tls) {
      listening = http_->ListenTls(prepared->tls->host, prepared->tls->port, tls_);
    }
    if (Status s = listening; !s.ok()) {
      DropMetrics();  // its rows read what goes below
      http_.reset();
      pool_->Stop();
      ws_.reset();
      sse_.reset();
      inboxes_.reset();
      pool_.reset();
      readiness_.reset();
      cluster_.reset();
      tls_.reset();
      return s;
    }
    if (!options_.grpc.listen.empty() || !options_.tls.grpc_listen.empty()) {
      grpcfront::GrpcOptions grpc_options(options_.grpc);
      grpc_options.verifier = verifier_;
      grpc_options.hooks = hooks_;
      if (!options_.tls.grpc_listen.empty()) {
        grpc_options.tls_listen = options_.tls.grpc_listen;
        grpc_options.tls_cert_pem = prepared->tls_context->cert_pem();
        grpc_options.tls_key_pem = prepared->tls_context->key_pem();
        grpc_options.tls_client_ca_pem = prepared->tls_context->client_ca_pem();
      }
      std::optional<GrpcTls> grpc_tls;
      if (!grpc_options.tls_listen.empty()) {
        grpc_tls = GrpcTls{grpc_options.tls_cert_pem, grpc_options.tls_key_pem,
                           grpc_options.tls_client_ca_pem};
      }
      grpc_ = std::make_unique<grpcfront::GrpcFront>(broker_, std::move(grpc_options));
      if (Status s = grpc_->Start(); !s.ok()) {
        grpc_.reset();
        running_ = true;
        Stop();
        return s;
      }
      std::lock_guard lock(reload_mu_);
      grpc_tls_ = std::move(grpc_tls);
      BuildMetrics();  // now with the gRPC front's rows
    }
    std::lock_guard lock(reload_mu_);  // what Reload() reads is set before
    running_ = true;
    reloadable_ = true;
    return Status::Ok();
  }

  // No reload from now on: the request thread's ends first, and a Reload()
  // after this one finds the server not reloadable. Owner thread.
  void EndReloads() {
    {
      std::lock_guard lock(reload_thread_mu_);
      reload_stopping_ = true;
    }
    if (reload_thread_.joinable()) reload_thread_.join();
    std::lock_guard lock(reload_mu_);
    reloadable_ = false;
  }

  void Stop() {
    EndReloads();
    // Held through the teardown: a Reload() on another thread waits, and
    // finds the server stopped.
    std::lock_guard lock(reload_mu_);
    if (!running_) return;
    running_ = false;
    if (grpc_) grpc_->Stop();  // cancels open streams; their subscriptions go
    grpc_.reset();
    http_->Stop();  // closes every connection: sessions unsubscribe
    pool_->Stop();  // loop handles go quiet: late wake-ups do nothing
    DropMetrics();  // its rows read what goes below
    http_.reset();
    ws_.reset();
    sse_.reset();
    inboxes_.reset();
    pool_.reset();
    // No /readyz is being answered any more; its canaries end before the
    // cluster they probe. Kept (stopped: "not started") so that Ready() may
    // still be asked.
    readiness_->Stop();
    cluster_.reset();  // last: the fronts no longer publish
  }

  void Drain(std::chrono::milliseconds window) {
    if (!running_) return;
    EndReloads();  // gRPC's front goes below, on a thread of its own
    readiness_->SetDraining();
    // gRPC sends GOAWAY at once and gives its calls the window to end.
    std::thread grpc_drain;
    if (grpc_) {
      grpc_drain = std::thread([this, window] {
        NameThisThread("herald-grpc-drn");
        grpc_->Stop(window);
      });
    }
    http_->Drain(window);
    if (grpc_drain.joinable()) grpc_drain.join();
    Stop();
  }

  // Every metric of every front that exists, declared once in its
  // server/*_metrics.cc; /metrics and heraldd's limit log read this table.
  void BuildMetrics() {
    auto t = std::make_shared<server::MetricTable>();
    server::AddBrokerMetrics(*t);
    server::AddHttpMetrics(http_->stats(), *t);
    server::AddWsMetrics(ws_->stats(), *t);
    server::AddSseMetrics(sse_->stats(), *t);
    if (hooks_) server::AddHookMetrics(hooks_->stats(), *t);
    if (grpc_) server::AddGrpcMetrics(grpc_->stats(), *t);
    if (tls_) server::AddTlsMetrics(*tls_, *t);
    if (cluster_) server::AddClusterMetrics(*t);
    server::AddReadinessMetrics(*readiness_, *t);
    t->Family(
        "herald_reloads_total", "counter",
        "Configuration reloads (SIGHUP, POST /admin/reload) by outcome: applied, or "
        "refused (an invalid configuration; the running one stayed).",
        [this](const server::MetricSnapshot&, std::vector<server::MetricSample>& out) {
          out.push_back({"", "result=\"applied\"", static_cast<double>(reloads_applied_.load())});
          out.push_back({"", "result=\"refused\"", static_cast<double>(reloads_refused_.load())});
        });
    std::lock_guard lock(metrics_mu_);
    metrics_ = std::move(t);
  }

  void DropMetrics() {
    std::lock_guard lock(metrics_mu_);
    metrics_.reset();
  }

  std::shared_ptr<const server::MetricTable> Metrics(server::MetricSnapshot& snapshot) const {
    std::shared_ptr<const server::MetricTable> table;
    {
      std::lock_guard lock(metrics_mu_);
      table = metrics_;
    }
    if (!table) return nullptr;
    snapshot.broker = broker_.Stats();
    if (cluster_) snapshot.cluster = cluster_->Stats();
    return table;
  }

  // From Start() on (the /metrics route and heraldd's limit log call them).
  std::string MetricsText() const {
    server::MetricSnapshot snapshot;
    auto table = Metrics(snapshot);
    return table ? table->Render(snapshot) : std::string();
  }
  std::vector<std::pair<std::string, uint64_t>> LimitCounters() const {
    server::MetricSnapshot snapshot;
    auto table = Metrics(snapshot);
    return table ? table->Trips(snapshot) : std::vector<std::pair<std::string, uint64_t>>{};
  }

  uint16_t port() const { return http_ ? http_->port() : 0; }
  Result<ReloadReport> Reload(const ServerOptions& next) {
    std::lock_guard lock(reload_mu_);
    if (!reloadable_) {
      return Status(ErrorCode::kUnavailable, "the server is not running (or is draining)");
    }
    Result<Prepared> prepared = Prepare(next);  // every file read and checked
    if (!live_) live_ = options_;
    if (!prepared.ok()) return prepared.status();
    ReloadReport report;
    auto restart_if = [&](const char* key, bool differs) {
      if (differs) report.needs_restart.push_back(key);
    };
    restart_if("listen", next.listen != live_->listen);
    restart_if("workers", next.workers != live_->workers);
    restart_if("static_dir", next.static_dir != live_->static_dir);
    restart_if("grpc_listen", next.grpc.listen != live_->grpc.listen);
    restart_if("cluster.listen", next.cluster.listen != live_->cluster.listen);
    restart_if("cluster.seeds", next.cluster.seeds != live_->cluster.seeds);
    restart_if("tls.listen", next.tls.listen != live_->tls.listen);
    restart_if("tls.grpc_listen", next.tls.grpc_listen != live_->tls.grpc_listen);
    restart_if("tls.handshake_timeout_ms",
               next.tls.handshake_timeout != live_->tls.handshake_timeout);
    restart_if("sse.id_topic_names", next.sse.id_topic_names != live_->sse.id_topic_names);
    // gRPC's channel settings: its server took them at start.
    restart_if("grpc.max_message_bytes",
               next.grpc.max_message_bytes != live_->grpc.max_message_bytes);
    restart_if("grpc.keepalive_time_ms", next.grpc.keepalive_time != live_->grpc.keepalive_time);
    restart_if("grpc.keepalive_timeout_ms",
               next.grpc.keepalive_timeout != live_->grpc.keepalive_timeout);
    restart_if("grpc.max_concurrent_streams",
               next.grpc.max_concurrent_streams != live_->grpc.max_concurrent_streams);
    // Authentication on or off changes what every front does with a client
    // that has no token: a restart.
    const bool auth_on = verifier_ != nullptr;
    restart_if("auth", auth_on != (prepared->verifier != nullptr));  // as a whole
    if (auth_on && prepared->verifier) {
      if (Status s = verifier_->Reload(next.auth); !s.ok()) return s;  // checked: cannot fail
      live_->auth = next.auth;
      report.applied.push_back("auth");
    }
    // The fronts' limits and origins, for connections from now on.
    http_->SetLimits(next.http);
    ws_->SetLimits(next.websocket);
    sse_->SetLimits(SseLimitsOf(next));
    live_->http = next.http;
    live_->websocket = next.websocket;
    const size_t names = live_->sse.id_topic_names;
    live_->sse = next.sse;
    live_->sse.id_topic_names = names;
    for (const char* section : {"http", "websocket", "sse"}) report.applied.push_back(section);
    if (grpc_) {
      grpc_->SetLimits(next.grpc);
      const GrpcLimits started = live_->grpc;
      live_->grpc = next.grpc;
      live_->grpc.listen = started.listen;
      live_->grpc.max_message_bytes = started.max_message_bytes;
      live_->grpc.keepalive_time = started.keepalive_time;
      live_->grpc.keepalive_timeout = started.keepalive_timeout;
      live_->grpc.max_concurrent_streams = started.max_concurrent_streams;
      report.applied.push_back("grpc");
    }
    // The gRPC listener's certificate, for its handshakes from now on.
    if (grpc_ && grpc_tls_ && prepared->tls_context) {
      const io::TlsContext& c = *prepared->tls_context;
      std::string client_ca = c.client_ca_pem();
      // Whether gRPC asks for client certificates was fixed when its port
      // opened: a CA given or dropped waits for a restart, the certificate
      // does not.
      if (client_ca.empty() != grpc_tls_->client_ca.empty()) {
        report.needs_restart.push_back("tls.client_ca_file");
        client_ca = grpc_tls_->client_ca;
      }
      if (c.cert_pem() != grpc_tls_->cert || c.key_pem() != grpc_tls_->key ||
          client_ca != grpc_tls_->client_ca) {
        // It refuses only a CA given or dropped, kept above.
        if (grpc_->ReplaceTlsCertificate(c.cert_pem(), c.key_pem(), client_ca).ok()) {
          grpc_tls_ = GrpcTls{c.cert_pem(), c.key_pem(), std::move(client_ca)};
        }
      }
    }
    if (tls_ && prepared->tls_context) tls_->Replace(prepared->tls_context);
    if ((tls_ || grpc_tls_) && prepared->tls_context) {
      live_->tls.cert_file = next.tls.cert_file;
      live_->tls.key_file = next.tls.key_file;
      live_->tls.client_ca_file = next.tls.client_ca_file;
      live_->tls.min_version = next.tls.min_version;
      report.applied.push_back("tls");
    }
    return report;
  }

  Result<ReloadReport> ReloadNow() {
    std::lock_guard lock(handler_mu_);
    if (!options_.reload_handler) {
      return Status(ErrorCode::kUnavailable, "this server has no reload handler");
    }
    handler_busy_ = true;
    Result<ReloadReport> r = options_.reload_handler();
    handler_busy_ = false;
    // Not running (or draining): no configuration was weighed.
    if (r.ok() || r.status().code() != ErrorCode::kUnavailable) {
      (r.ok() ? reloads_applied_ : reloads_refused_).fetch_add(1, std::memory_order_relaxed);
    }
    return r;
  }

  // POST /admin/reload: the handler on a thread of its own, as it reads
  // files (a loop never waits); one at a time, a second request meanwhile
  // is refused.
  void StartReload(std::function<void(Result<ReloadReport>)> done) {
    std::lock_guard lock(reload_thread_mu_);
    if (reload_stopping_ || reload_thread_busy_ || handler_busy_) {  // a SIGHUP's, say
      return done(Status(ErrorCode::kUnavailable,
                         reload_stopping_ ? "the server is stopping" : "a reload is in progress"));
    }
    if (reload_thread_.joinable()) reload_thread_.join();  // done: it cleared busy
    reload_thread_busy_ = true;
    reload_thread_ = std::thread([this, done = std::move(done)] {
      NameThisThread("herald-reload");
      done(ReloadNow());
      std::lock_guard lock(reload_thread_mu_);
      reload_thread_busy_ = false;
    });
  }

  uint16_t grpc_port() const { return grpc_ ? grpc_->port() : 0; }
  uint16_t tls_port() const { return http_ ? http_->tls_port() : 0; }
  uint16_t grpc_tls_port() const { return grpc_ ? grpc_->tls_port() : 0; }
  uint16_t cluster_port() const { return cluster_ ? cluster_->port() : 0; }
  bool LoopsTurning() { return running_ && pool_->Probe(); }
  bool Ready(std::string* why) const {
    if (!readiness_) {
      if (why) *why = "not started";
      return false;
    }
    const server::Readiness::Report r = readiness_->Check();
    if (why) *why = r.why;
    return r.ready;
  }

 private:
  std::shared_ptr<http::Router> MakeRouter() {
    auto router = std::make_shared<http::Router>();
    router->Handle("GET", "/healthz", [](http::Request&, http::Response res) {
      res.Send(200, "{\"status\":\"ok\"}\n", http::kApplicationJson);
    });
    // Liveness above; readiness (delivery proven by canaries) here.
    router->Handle("GET", "/readyz", [this](http::Request&, http::Response res) {
      const server::Readiness::Report r = readiness_->Check();
      std::string body = r.ready ? "{\"status\":\"ready\"" : "{\"status\":\"not ready\"";
      if (!r.ready) body += ",\"reason\":" + server::JsonQuoted(r.why);
      body += ",\"targets\":[";
      for (size_t i = 0; i < r.targets.size(); ++i) {
        const server::Readiness::Target& t = r.targets[i];
        body += (i ? "," : "") + std::string("{\"target\":") + server::JsonQuoted(t.name) +
                ",\"ok\":" + (t.ok ? "true" : "false");
        if (t.ok) body += ",\"latency_ms\":" + std::to_string(t.latency_s * 1000);
        if (t.ok && !t.why.empty()) body += ",\"note\":" + server::JsonQuoted(t.why);
        if (!t.ok) body += ",\"reason\":" + server::JsonQuoted(t.why);
        body += "}";
      }
      body += "]}\n";
      res.Send(r.ready ? 200 : 503, std::move(body), http::kApplicationJson);
    });
    router->Handle("GET", "/metrics", [this](http::Request&, http::Response res) {
      res.Send(200, MetricsText(), "text/plain; version=0.0.4; charset=utf-8");
    });
    router->Handle("GET", "/cluster", [this](http::Request&, http::Response res) {
      if (!cluster_) {
        res.Send(200,
                 "{\"node_id\":" + server::JsonQuoted(broker_.options().node_id) +
                     ",\"clustered\":false}\n",
                 http::kApplicationJson);
        return;
      }
      std::optional<HistoryStoreStats> store;
      if (broker_.options().store) store = broker_.options().store->Stats();
      res.Send(200, server::ClusterJson(cluster_->Stats(), store ? &*store : nullptr),
               http::kApplicationJson);
    });
    ws_->Register(*router);
    sse_->Register(*router);
    if (site_) site_->Register(*router);  // a prefix route for "/": the fallback
    rest_->Register(*router);
    return router;
  }

  Broker& broker_;
  const ServerOptions options_;
  std::unique_ptr<io::WorkerPool> pool_;
  std::unique_ptr<server::WorkerInboxes> inboxes_;
  std::unique_ptr<ws::WsFront> ws_;
  std::unique_ptr<sse::SseFront> sse_;
  std::optional<statics::StaticSite> site_;
  std::shared_ptr<const auth::JwtVerifier> verifier_;  // null: no authentication
  std::shared_ptr<const session::HookGate> hooks_;     // null: no hooks
  mutable std::mutex metrics_mu_;                      // guards metrics_ (replaced once gRPC is up)
  std::shared_ptr<const server::MetricTable> metrics_;
  std::unique_ptr<rest::RestApi> rest_;
  std::unique_ptr<http::HttpServer> http_;
  std::unique_ptr<grpcfront::GrpcFront> grpc_;
  std::shared_ptr<io::TlsServer> tls_;  // the certificate new TLS connections take
  std::mutex reload_mu_;                // one Reload() at a time
  // What the last Reload() applied (the options at Start() before the
  // first); under reload_mu_.
  std::optional<ServerOptions> live_;
  std::unique_ptr<cluster::Cluster> cluster_;
  // From Start to Stop; after cluster_, so that it goes first.
  std::unique_ptr<server::Readiness> readiness_;
  std::atomic<bool> running_{false};  // written under reload_mu_
  // From a whole Start() to a Drain() or Stop(), under reload_mu_.
  bool reloadable_ = false;
  // What the gRPC listener's TLS has now (none: no gRPC TLS).
  struct GrpcTls {
    std::string cert, key, client_ca;
  };
  std::optional<GrpcTls> grpc_tls_;
  std::mutex handler_mu_;                  // one ReloadNow() at a time
  std::atomic<bool> handler_busy_{false};  // while one runs
  std::atomic<uint64_t> reloads_applied_{0}, reloads_refused_{0};
  // POST /admin/reload's thread (StartReload), under reload_thread_mu_.
  std::mutex reload_thread_mu_;
  std::thread reload_thread_;
  bool reload_thread_busy_ = false;
  bool reload_stopping_ = false;
};

Server::Server(Broker& broker, ServerOptions options)
    : impl_(std::make_unique<Impl>(broker, std::move(options))) {}
Server::~Server() { impl_->Stop(); }
Status Server::Start() { return impl_->Start(); }
Status Server::Check(const ServerOptions& options) { return Prepare(options).status(); }
uint16_t Server::port() const { return impl_->port(); }
bool Server::LoopsTurning() { return impl_->LoopsTurning(); }
bool Server::Ready(std::string* why) const { return impl_->Ready(why); }
uint16_t Server::grpc_port() const { return impl_->grpc_port(); }
Result<ReloadReport> Server::Reload(const ServerOptions& next) { return impl_->Reload(next); }
Result<ReloadReport> Server::ReloadNow() { return impl_->ReloadNow(); }
uint16_t Server::tls_port() const { return impl_->tls_port(); }
uint16_t Server::grpc_tls_port() const { return impl_->grpc_tls_port(); }
uint16_t Server::cluster_port() const { return impl_->cluster_port(); }
void Server::Stop() { impl_->Stop(); }
std::string Server::MetricsText() const { return impl_->MetricsText(); }
std::vector<std::pair<std::string, uint64_t>> Server::LimitCounters() const {
  return impl_->LimitCounters();
}
void Server::Drain(std::chrono::milliseconds window) { impl_->Drain(window); }

}  // namespace herald
