#include "store/redis/stream_entry.h"

#include <memory>
#include <optional>

namespace herald::redis {

void AppendFields(const Message& m, std::vector<std::string>& args) {
  const size_t count_at = args.size();
  args.emplace_back();
  size_t n = 0;
  auto field = [&](std::string_view name, std::string_view value) {
    args.emplace_back(name);
    args.emplace_back(value);
    ++n;
  };
  field("d", m.payload);
  if (!m.content_type.empty()) field("c", m.content_type);
  if (!m.reply_to.empty()) field("r", m.reply_to);
  if (!m.msg_id.empty()) field("i", m.msg_id);
  for (const Header& h : m.headers) field("h:" + h.name, h.value);
  args[count_at] = std::to_string(n);
}

Result<MessagePtr> MessageFromEntry(std::string_view topic, const Reply& entry) {
  auto bad = [&](const std::string& why) {
    return Status(ErrorCode::kInternal, "an entry of topic '" + std::string(topic) +
                                            "' in redis is not a message: " + why);
  };
  if (entry.type != Reply::Type::kArray || entry.elements.size() != 2 ||
      entry.elements[0].type != Reply::Type::kString ||
      entry.elements[1].type != Reply::Type::kArray) {
    return bad("not [id, fields] (" + entry.Describe() + ")");
  }
  const std::string& id = entry.elements[0].str;
  const size_t dash = id.find('-');
  auto m = std::make_shared<Message>();
  const std::optional<uint64_t> epoch =
      dash == std::string::npos ? std::nullopt : ParseDecimal(std::string_view(id).substr(0, dash));
  const std::optional<uint64_t> offset = dash == std::string::npos
                                             ? std::nullopt
                                             : ParseDecimal(std::string_view(id).substr(dash + 1));
  if (!epoch || !offset) return bad("id " + id);
  m->epoch = *epoch;
  m->offset = *offset;
  m->topic = std::string(topic);
  const std::vector<Reply>& f = entry.elements[1].elements;
  if (f.size() % 2) return bad("an odd number of fields in " + id);
  bool stamped = false, has_payload = false;
  for (size_t k = 0; k + 1 < f.size(); k += 2) {
    const std::string& name = f[k].str;
    const std::string& value = f[k + 1].str;
    if (name == "t") {
      const std::optional<uint64_t> us = ParseDecimal(value);
      if (!us) return bad("stamp '" + value + "' in " + id);
      m->timestamp_us = static_cast<int64_t>(*us);
      stamped = true;
    } else if (name == "d") {
      m->payload = value;
      has_payload = true;
    } else if (name == "c") {
      m->content_type = value;
    } else if (name == "r") {
      m->reply_to = value;
    } else if (name == "i") {
      m->msg_id = value;
    } else if (name.rfind("h:", 0) == 0) {
      m->headers.push_back(Header{name.substr(2), value});
    }  // a field of a later version: skipped
  }
  if (!stamped || !has_payload) return bad("no stamp or payload in " + id);
  return MessagePtr(std::move(m));
}

}  // namespace herald::redis
