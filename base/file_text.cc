#include "base/file_text.h"

#include <fstream>
#include <sstream>

namespace herald {

Result<std::string> ReadConfiguredFile(std::string_view key, const std::string& path,
                                       EmptyFile empty) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status(ErrorCode::kInvalidArgument, std::string(key) + ": cannot read '" + path + "'");
  }
  std::stringstream text;
  text << in.rdbuf();
  if (empty == EmptyFile::kRefused && text.str().empty()) {
    return Status(ErrorCode::kInvalidArgument, std::string(key) + ": '" + path + "' is empty");
  }
  return text.str();
}

}  // namespace herald
