// frontends/static/static_site.h — static files over HTTP: a directory
// (heraldd --static DIR) or a set of files compiled into the binary (the
// demo chat page heraldd serves by default).
//
//   auto site = StaticSite::FromDirectory("/srv/www");   // Result<StaticSite>
//   site->Register(router);                              // GET/HEAD, lowest priority
//
// Requests are mapped to files strictly inside the root: the path is
// percent-decoded once, then refused (400) if it has a `..` or `.` segment,
// a backslash, a NUL or any control byte; a directory serves its
// index.html; and for a directory root the resolved file (symlinks
// followed) must still lie under the root's real path, else 404. MIME types
// come from the extension (MimeTypeFor). Files are read per request (no
// cache), at most `kMaxFileBytes`.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "frontends/http/router.h"
#include "herald/status.h"

namespace herald::statics {

// "text/html; charset=utf-8" for "index.html"; application/octet-stream for
// unknown extensions.
std::string_view MimeTypeFor(std::string_view path);

// The decoded, checked path below the root ("index.html", "js/app.js"), or
// an error for anything that could leave it.
Result<std::string> SafeRelativePath(std::string_view raw_path);

class StaticSite {
 public:
  static constexpr size_t kMaxFileBytes = 16u << 20;

  // Serves the files under `dir` (which must exist).
  static Result<StaticSite> FromDirectory(const std::string& dir);
  // Serves the given files: relative path → content.
  static StaticSite FromMemory(std::map<std::string, std::string_view, std::less<>> files);

  // Adds GET (and so HEAD) for "/" and every path below it, as the router's
  // lowest-priority route. The site must outlive the router's use.
  void Register(http::Router& router) const;

 private:
  struct Source;
  explicit StaticSite(std::shared_ptr<const Source> source) : source_(std::move(source)) {}
  void Serve(http::Request& req, http::Response res) const;

  std::shared_ptr<const Source> source_;
};

}  // namespace herald::statics
