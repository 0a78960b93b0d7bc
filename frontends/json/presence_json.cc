#include "frontends/json/presence_json.h"

#include <vector>

#include "frontends/json/json_writer.h"

namespace herald::json {
namespace {

void AppendMember(std::string& out, const PresenceMember& m, bool with_info) {
  JsonWriter w(std::move(out));
  w.Begin().Field("client", m.client).Field("user", m.user);
  // The info was checked to be one JSON object (token claim or ConnectInfo).
  if (with_info && !m.info.empty()) w.RawField("info", m.info);
  w.End();
  out = w.Take();
}

std::string MemberList(const std::vector<PresenceMember>& members, bool with_info) {
  std::string out = "[";
  for (size_t i = 0; i < members.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendMember(out, members[i], with_info);
  }
  out.push_back(']');
  return out;
}

void WriteSnapshot(JsonWriter& w, const PresenceSnapshot& s) {
  w.Field("clients", uint64_t{s.clients})
      .Field("users", uint64_t{s.users})
      .RawField("members", MemberList(s.members, true));
  if (!s.next.empty()) w.Field("next", s.next);
}

}  // namespace

std::string EncodePresence(const PresenceEvent& e) {
  JsonWriter w;
  w.Begin().Field("op", "presence").Field("topic", e.topic);
  if (e.snapshot) w.Field("snapshot", true);
  if (e.resync) {
    w.Field("resync", true);
  } else {
    w.RawField("join", MemberList(e.joins, true));
    w.RawField("leave", MemberList(e.leaves, false));
  }
  if (e.truncated) w.Field("truncated", true);
  w.Field("clients", uint64_t{e.clients}).Field("users", uint64_t{e.users}).End();
  return w.Take();
}

std::string EncodePresenceResync(std::string_view topic, uint32_t clients, uint32_t users) {
  JsonWriter w;
  w.Begin()
      .Field("op", "presence")
      .Field("topic", topic)
      .Field("resync", true)
      .Field("clients", uint64_t{clients})
      .Field("users", uint64_t{users})
      .End();
  return w.Take();
}

std::string EncodeMembers(std::string_view id, std::string_view topic, const PresenceSnapshot& s) {
  JsonWriter w;
  w.Begin().Field("op", "members");
  if (!id.empty()) w.RawField("id", id);
  w.Field("topic", topic);
  WriteSnapshot(w, s);
  w.End();
  return w.Take();
}

std::string EncodePresenceAnswer(std::string_view topic, const PresenceSnapshot& s) {
  JsonWriter w;
  w.Begin().Field("topic", topic);
  WriteSnapshot(w, s);
  w.End();
  return w.Take();
}

}  // namespace herald::json
