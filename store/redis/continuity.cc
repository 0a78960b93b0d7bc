#include "store/redis/continuity.h"

#include <algorithm>
#include <charconv>
#include <memory>
#include <string_view>
#include <vector>

#include "store/redis/scripts.h"

namespace herald::redis {

namespace {

// "name:value" on its own line of INFO's text.
std::string InfoField(std::string_view text, std::string_view name) {
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(at, end - at);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > name.size() && line.starts_with(name) && line[name.size()] == ':')
      return std::string(line.substr(name.size() + 1));
    at = end + 1;
  }
  return {};
}

void RecordOnReplicas(const PrepareSend& send, int replicas, std::chrono::milliseconds timeout,
                      const std::function<void(Result<Continuity>)>& done, Continuity answer) {
  const std::vector<std::string> args = {"WAIT", std::to_string(replicas),
                                         std::to_string(std::max<int64_t>(1, timeout.count()))};
  Status sent = send(std::vector<std::string_view>(args.begin(), args.end()),
                     [done, replicas, answer](Result<Reply> r) {
                       if (!r.ok()) return done(r.status());
                       if (r->type == Reply::Type::kInteger && r->integer >= replicas)
                         return done(answer);
                       done(Status(ErrorCode::kUnavailable,
                                   "the replicas did not confirm that this node's appends do "
                                   "not wait for them (WAIT answered " +
                                       r->Describe() + ")"));
                     });
  if (!sent.ok()) done(sent);
}

}  // namespace

Result<MasterRun> ParseMasterRun(const Reply& info) {
  if (info.type != Reply::Type::kString) {
    return Status(ErrorCode::kInternal, "INFO answered " + info.Describe());
  }
  MasterRun run{InfoField(info.str, "run_id"), InfoField(info.str, "master_replid"),
                InfoField(info.str, "master_replid2"), 0};
  for (auto [name, value] : {std::pair<const char*, const std::string*>{"run_id", &run.run_id},
                             {"master_replid", &run.replid},
                             {"master_replid2", &run.replid2}}) {
    if (value->empty())
      return Status(ErrorCode::kInternal, std::string("INFO does not say its ") + name);
  }
  const std::string replicas = InfoField(info.str, "connected_slaves");
  auto [end, ec] =
      std::from_chars(replicas.data(), replicas.data() + replicas.size(), run.replicas);
  if (ec != std::errc() || end != replicas.data() + replicas.size() || run.replicas < 0)
    return Status(ErrorCode::kInternal, "INFO does not say its connected_slaves");
  return run;
}

std::string SyncPolicy(const Result<Reply>& config) {
  if (!config.ok() || config->type != Reply::Type::kArray) return "unknown";
  std::string aof, fsync;
  for (size_t k = 0; k + 1 < config->elements.size(); k += 2) {
    if (config->elements[k].str == "appendonly") aof = config->elements[k + 1].str;
    if (config->elements[k].str == "appendfsync") fsync = config->elements[k + 1].str;
  }
  if (aof.empty() || fsync.empty()) return "unknown";
  return aof == "yes" ? fsync : "off";
}

void CheckContinuity(const PrepareSend& send, const ContinuityOptions& options,
                     std::function<void(Result<Continuity>)> done) {
  struct Check {
    std::string sync = "unknown";
    std::function<void(Result<Continuity>)> done;
  };
  auto check = std::make_shared<Check>();
  check->done = std::move(done);
  // Refused or not, it is answered before INFO (pipelined, in order).
  Status asked = send({"CONFIG", "GET", "appendonly", "appendfsync"},
                      [check](Result<Reply> config) { check->sync = SyncPolicy(config); });
  if (!asked.ok()) return check->done(asked);
  // Plain INFO: several sections in one call need Redis 7.
  asked = send({"INFO"}, [send, check, options](Result<Reply> info) {
    if (!info.ok()) return check->done(info.status());
    if (info->is_error()) {
      return check->done(Status(ErrorCode::kPermissionDenied,
                                "redis refused INFO (" + info->str + "): allow it for this user"));
    }
    Result<MasterRun> run = ParseMasterRun(*info);
    if (!run.ok()) return check->done(run.status());
    const bool replicated = options.wait_replicas > 0 && run->replicas <= options.wait_replicas;
    const std::vector<std::string> args = {"EVALSHA",
                                           options.script_sha,
                                           "3",
                                           WriterKey(options.prefix),
                                           LostKey(options.prefix),
                                           TopicsKey(options.prefix),
                                           run->run_id,
                                           run->replid,
                                           run->replid2,
                                           check->sync,
                                           replicated ? "1" : "0",
                                           options.address};
    const int replicas = run->replicas;
    Status sent = send(
        std::vector<std::string_view>(args.begin(), args.end()),
        [send, check, options, replicas](Result<Reply> r) {
          if (!r.ok()) return check->done(r.status());
          uint64_t lost = 0;
          if (r->type != Reply::Type::kArray || r->elements.size() != 3 ||
              r->elements[2].type != Reply::Type::kInteger ||
              std::from_chars(r->elements[1].str.data(),
                              r->elements[1].str.data() + r->elements[1].str.size(), lost)
                      .ec != std::errc()) {
            return check->done(
                Status(ErrorCode::kInternal, "the continuity check answered " + r->Describe()));
          }
          Continuity answer{r->elements[0].str, lost};
          if (r->elements[2].integer == 0 || replicas == 0) return check->done(std::move(answer));
          // This run's writers waited for every replica until
          // now: the record saying this one does not must be on
          // them before its first append, or a replica that
          // missed both would be trusted.
          RecordOnReplicas(send, replicas, options.record_timeout, check->done, std::move(answer));
        });
    if (!sent.ok()) check->done(sent);
  });
  if (!asked.ok()) check->done(asked);
}

}  // namespace herald::redis
