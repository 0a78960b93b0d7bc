#include "frontends/static/static_site.h"

#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "frontends/http/url.h"

namespace herald::statics {

struct StaticSite::Source {
  std::string root;  // real path of the directory; empty for an in-memory site
  std::map<std::string, std::string_view, std::less<>> files;  // in-memory site
};

namespace {

struct Mime {
  std::string_view ext;
  std::string_view type;
};

constexpr Mime kMimeTypes[] = {
    {".html", "text/html; charset=utf-8"},
    {".htm", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".txt", "text/plain; charset=utf-8"},
    {".md", "text/markdown; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".gif", "image/gif"},
    {".webp", "image/webp"},
    {".ico", "image/x-icon"},
    {".woff", "font/woff"},
    {".woff2", "font/woff2"},
    {".wasm", "application/wasm"},
    {".d.ts", "text/plain; charset=utf-8"},
};

bool EndsWithIgnoreCase(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i) {
    char c = s[s.size() - suffix.size() + i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != suffix[i]) return false;
  }
  return true;
}

Status Refuse(std::string why) { return Status(ErrorCode::kInvalidArgument, std::move(why)); }

}  // namespace

std::string_view MimeTypeFor(std::string_view path) {
  for (const Mime& m : kMimeTypes) {
    if (EndsWithIgnoreCase(path, m.ext)) return m.type;
  }
  return "application/octet-stream";
}

Result<std::string> SafeRelativePath(std::string_view raw_path) {
  Result<std::string> decoded = http::PercentDecode(raw_path);
  if (!decoded.ok()) return decoded.status();
  const std::string& p = *decoded;
  if (p.empty() || p[0] != '/') return Refuse("path must start with '/'");
  std::string out;
  size_t start = 1;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    const std::string_view seg(p.data() + start, end - start);
    if (seg == "." || seg == "..") return Refuse("path segments '.' and '..' are not allowed");
    for (char c : seg) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7F || c == '\\') {
        return Refuse("path has a control character or a backslash");
      }
    }
    if (!seg.empty()) {
      if (!out.empty()) out.push_back('/');
      out.append(seg);
    }
    start = end + 1;
  }
  return out;
}

Result<StaticSite> StaticSite::FromDirectory(const std::string& dir) {
  char real[PATH_MAX];
  if (realpath(dir.c_str(), real) == nullptr) {
    return Status(ErrorCode::kInvalidArgument, "static directory '" + dir + "' does not exist");
  }
  struct stat st {};
  if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status(ErrorCode::kInvalidArgument, "'" + dir + "' is not a directory");
  }
  auto source = std::make_shared<Source>();
  source->root = real;
  return StaticSite(std::move(source));
}

StaticSite StaticSite::FromMemory(std::map<std::string, std::string_view, std::less<>> files) {
  auto source = std::make_shared<Source>();
  source->files = std::move(files);
  return StaticSite(std::move(source));
}

void StaticSite::Register(http::Router& router) const {
  StaticSite self = *this;
  router.HandlePrefix("GET", "/", [self](http::Request& req, http::Response res) {
    self.Serve(req, std::move(res));
  });
}

void StaticSite::Serve(http::Request& req, http::Response res) const {
  Result<std::string> rel = SafeRelativePath(req.path);
  if (!rel.ok()) return (void)res.SendError(400, "bad_path", rel.status().message());
  http::HeaderList headers;
  headers.Add("Cache-Control", "no-cache");
  headers.Add("X-Content-Type-Options", "nosniff");
  const Source& s = *source_;
  if (s.root.empty()) {
    std::string key = rel->empty() ? "index.html" : *rel;
    auto it = s.files.find(key);
    if (it == s.files.end()) it = s.files.find(key + "/index.html");
    if (it == s.files.end()) return (void)res.SendError(404, "not_found", "no file " + req.path);
    res.Send(200, std::string(it->second), MimeTypeFor(it->first), std::move(headers));
    return;
  }
  std::string path = s.root + "/" + *rel;
  struct stat st {};
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) path += "/index.html";
  // Symlinks may point anywhere: the file actually opened must be under the root.
  char real[PATH_MAX];
  if (realpath(path.c_str(), real) == nullptr) {
    return (void)res.SendError(404, "not_found", "no file " + req.path);
  }
  const std::string_view resolved(real);
  if (!(resolved.starts_with(s.root) &&
        (resolved.size() == s.root.size() || resolved[s.root.size()] == '/'))) {
    return (void)res.SendError(404, "not_found", "no file " + req.path);
  }
  if (stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
    return (void)res.SendError(404, "not_found", "no file " + req.path);
  }
  if (static_cast<size_t>(st.st_size) > kMaxFileBytes) {
    return (void)res.SendError(403, "too_large", "file over the static size limit");
  }
  std::ifstream in(real, std::ios::binary);
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return (void)res.SendError(500, "internal", "cannot read file");
  res.Send(200, std::move(body), MimeTypeFor(resolved), std::move(headers));
}

}  // namespace herald::statics
