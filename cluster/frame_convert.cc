#include "cluster/frame_convert.h"

namespace herald::cluster {
namespace {

template <typename Repeated>
void CopyHeaders(const Headers& in, Repeated* out) {
  for (const Header& h : in) {
    auto* x = out->Add();
    x->set_name(h.name);
    x->set_value(h.value);
  }
}

}  // namespace

void ToDelivery(const Message& m, pb::Delivery* out) {
  out->set_topic(m.topic);
  out->set_payload(m.payload);
  if (!m.content_type.empty()) out->set_content_type(m.content_type);
  CopyHeaders(m.headers, out->mutable_headers());
  if (!m.reply_to.empty()) out->set_reply_to(m.reply_to);
  if (!m.msg_id.empty()) out->set_msg_id(m.msg_id);
  out->set_epoch(m.epoch);
  out->set_offset(m.offset);
  out->set_timestamp_us(m.timestamp_us);
}

MessagePtr FromDelivery(pb::Delivery& d) {
  auto m = std::make_shared<Message>();
  m->topic = std::move(*d.mutable_topic());
  m->payload = std::move(*d.mutable_payload());
  m->content_type = std::move(*d.mutable_content_type());
  m->reply_to = std::move(*d.mutable_reply_to());
  m->msg_id = std::move(*d.mutable_msg_id());
  for (auto& h : *d.mutable_headers()) {
    m->headers.push_back({std::move(*h.mutable_name()), std::move(*h.mutable_value())});
  }
  m->epoch = d.epoch();
  m->offset = d.offset();
  m->timestamp_us = d.timestamp_us();
  return m;
}

void ToForward(const Message& m, pb::Forward* out) {
  out->set_topic(m.topic);
  out->set_payload(m.payload);
  if (!m.content_type.empty()) out->set_content_type(m.content_type);
  CopyHeaders(m.headers, out->mutable_headers());
  if (!m.reply_to.empty()) out->set_reply_to(m.reply_to);
  if (!m.msg_id.empty()) out->set_msg_id(m.msg_id);
}

void ToReply(const Message& m, pb::Reply* out) {
  out->set_topic(m.topic);
  out->set_payload(m.payload);
  out->set_content_type(m.content_type);
  CopyHeaders(m.headers, out->mutable_headers());
}

MessagePtr FromReply(pb::Reply& r) {
  auto m = std::make_shared<Message>();
  m->topic = std::move(*r.mutable_topic());
  m->payload = std::move(*r.mutable_payload());
  m->content_type = std::move(*r.mutable_content_type());
  for (auto& h : *r.mutable_headers()) {
    m->headers.push_back({std::move(*h.mutable_name()), std::move(*h.mutable_value())});
  }
  return m;
}

pb::Gap::Reason ToWire(GapReason reason) {
  switch (reason) {
    case GapReason::kEpochChanged:
      return pb::Gap::EPOCH_CHANGED;
    case GapReason::kTrimmed:
      return pb::Gap::TRIMMED;
    case GapReason::kSlowConsumer:
      return pb::Gap::SLOW_CONSUMER;
  }
  return pb::Gap::REASON_UNSPECIFIED;
}

GapReason FromWire(pb::Gap::Reason reason) {
  switch (reason) {
    case pb::Gap::TRIMMED:
      return GapReason::kTrimmed;
    case pb::Gap::SLOW_CONSUMER:
      return GapReason::kSlowConsumer;
    default:
      // EPOCH_CHANGED, and what a sender did not say (or a newer reason):
      // the safe reading is that what came before is gone.
      return GapReason::kEpochChanged;
  }
}

void ToGap(const Gap& gap, pb::Gap* out) {
  out->set_reason(ToWire(gap.reason));
  out->set_epoch(gap.epoch);
  out->set_from_offset(gap.from_offset);
  out->set_to_offset(gap.to_offset);
}

Gap FromGap(std::string_view topic, const pb::Gap& gap) {
  Gap g;
  g.topic = std::string(topic);
  g.reason = FromWire(gap.reason());
  g.epoch = gap.epoch();
  g.from_offset = gap.from_offset();
  g.to_offset = gap.to_offset();
  return g;
}

ErrorCode ErrorCodeFromName(std::string_view name) {
  // From kOk + 1: an error frame naming "ok" is not a success.
  for (int c = static_cast<int>(ErrorCode::kOk) + 1; c <= static_cast<int>(ErrorCode::kInternal);
       ++c) {
    if (ErrorCodeName(static_cast<ErrorCode>(c)) == name) return static_cast<ErrorCode>(c);
  }
  return ErrorCode::kInternal;
}

size_t FrameCost(const pb::PeerFrame& frame) {
  constexpr size_t kOverhead = 64;
  switch (frame.kind_case()) {
    case pb::PeerFrame::kDelivery:
      return kOverhead + frame.delivery().topic().size() + frame.delivery().payload().size();
    case pb::PeerFrame::kForward:
      return kOverhead + frame.forward().topic().size() + frame.forward().payload().size();
    case pb::PeerFrame::kReply:
      return kOverhead + frame.reply().topic().size() + frame.reply().payload().size();
    case pb::PeerFrame::kHistory: {
      size_t n = kOverhead;
      for (const auto& d : frame.history().messages()) n += kOverhead + d.payload().size();
      return n;
    }
    default:
      return kOverhead;
  }
}

}  // namespace herald::cluster
