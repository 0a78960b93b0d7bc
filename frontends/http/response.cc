#include "frontends/http/response.h"

#include "frontends/http/http_session.h"
#include "frontends/http/response_format.h"

namespace herald::http {

Response::State::~State() {
  if (finished) return;
  if (std::shared_ptr<HttpSession> s = session.lock()) s->Abandon(seq);
}

std::shared_ptr<HttpSession> Response::Lock() const {
  return state_ ? state_->session.lock() : nullptr;
}

bool Response::alive() const {
  std::shared_ptr<HttpSession> s = Lock();
  return s && s->IsPending(state_->seq);
}

template <typename Body>
bool Response::SendBody(int status, Body body, std::string_view content_type, HeaderList headers) {
  std::shared_ptr<HttpSession> s = Lock();
  if (!s || !s->Respond(state_->seq, status, content_type, std::move(headers), std::move(body))) {
    return false;
  }
  state_->finished = true;
  return true;
}

bool Response::Send(int status, std::string body, std::string_view content_type,
                    HeaderList headers) {
  return SendBody(status, std::move(body), content_type, std::move(headers));
}

bool Response::Send(int status, io::SharedBuffer body, std::string_view content_type,
                    HeaderList headers) {
  return SendBody(status, std::move(body), content_type, std::move(headers));
}

bool Response::SendError(int status, std::string_view code, std::string_view message,
                         HeaderList headers) {
  return Send(status, ErrorJson(code, message), kApplicationJson, std::move(headers));
}

bool Response::SendError(const Status& status) {
  return SendError(HttpStatusFor(status), ErrorCodeName(status.code()), status.message());
}

bool Response::StartStream(int status, std::string_view content_type, HeaderList headers) {
  std::shared_ptr<HttpSession> s = Lock();
  return s && s->StartStream(state_->seq, status, content_type, std::move(headers));
}

bool Response::Write(io::SharedBuffer chunk) {
  std::shared_ptr<HttpSession> s = Lock();
  return s && s->StreamWrite(state_->seq, std::move(chunk));
}

bool Response::Write(std::string chunk) {
  std::shared_ptr<HttpSession> s = Lock();
  return s && s->StreamWrite(state_->seq, std::move(chunk));
}

void Response::End() {
  std::shared_ptr<HttpSession> s = Lock();
  if (!s) return;
  s->StreamEnd(state_->seq);
  state_->finished = true;
}

size_t Response::backlog_bytes() const {
  std::shared_ptr<HttpSession> s = Lock();
  return s ? s->backlog_bytes() : 0;
}

size_t Response::queued_bytes() const {
  std::shared_ptr<HttpSession> s = Lock();
  return s ? s->queued_bytes() : 0;
}

bool Response::Watch(std::shared_ptr<StreamWatcher> watcher) {
  std::shared_ptr<HttpSession> s = Lock();
  return s && s->WatchStream(state_->seq, std::move(watcher));
}

void Response::Abort(io::CloseReason reason) {
  std::shared_ptr<HttpSession> s = Lock();
  if (!s) return;
  state_->finished = true;
  s->AbortStream(state_->seq, reason);
}

std::optional<Response::Upgraded> Response::TakeOver(
    std::shared_ptr<io::ConnectionHandler> handler) {
  std::shared_ptr<HttpSession> s = Lock();
  if (!s) return std::nullopt;
  std::optional<Upgraded> up = s->TakeOver(state_->seq, std::move(handler));
  if (up) state_->finished = true;
  return up;
}

}  // namespace herald::http
