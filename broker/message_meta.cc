#include "broker/message_meta.h"

#include <string>

#include "base/http_tokens.h"

namespace herald {
namespace {

Status Bad(std::string what) { return Status(ErrorCode::kInvalidArgument, std::move(what)); }

Status ValidateContentType(std::string_view ct) {
  if (ct.empty()) return Status::Ok();
  if (ct.size() > kMaxContentTypeBytes) {
    return Bad("content type is over " + std::to_string(kMaxContentTypeBytes) + " bytes");
  }
  if (!IsFieldValue(ct)) return Bad("content type contains a control character (CR, LF, NUL...)");
  const std::string_view media = TrimOws(ct.substr(0, ct.find(';')));
  const size_t slash = media.find('/');
  if (slash == std::string_view::npos || !IsToken(media.substr(0, slash)) ||
      !IsToken(media.substr(slash + 1))) {
    return Bad("content type must be type/subtype (e.g. text/plain; charset=utf-8)");
  }
  return Status::Ok();
}

}  // namespace

Status ValidateMessageMeta(std::string_view content_type, const Headers& headers) {
  if (Status s = ValidateContentType(content_type); !s.ok()) return s;
  for (const Header& h : headers) {
    if (h.name.size() > kMaxHeaderNameBytes || !IsToken(h.name)) {
      return Bad("header names must be HTTP tokens of at most " +
                 std::to_string(kMaxHeaderNameBytes) + " bytes (letters, digits, !#$%&'*+-.^_`|~)");
    }
    if (h.value.size() > kMaxHeaderValueBytes) {
      return Bad("header '" + h.name + "' is over " + std::to_string(kMaxHeaderValueBytes) +
                 " bytes");
    }
    if (!IsFieldValue(h.value)) {
      return Bad("header '" + h.name + "' contains a control character (CR, LF, NUL...)");
    }
  }
  return Status::Ok();
}

Status ValidateMsgId(std::string_view msg_id) {
  if (msg_id.size() > kMaxMsgIdBytes) {
    return Status(ErrorCode::kInvalidArgument, "msg_id is " + std::to_string(msg_id.size()) +
                                                   " bytes, over the limit of " +
                                                   std::to_string(kMaxMsgIdBytes));
  }
  for (char c : msg_id) {
    if (c < 0x21 || c > 0x7e) {
      return Status(ErrorCode::kInvalidArgument,
                    "msg_id may hold printable ASCII only (no spaces or control characters)");
    }
  }
  return Status::Ok();
}

}  // namespace herald
