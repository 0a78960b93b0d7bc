#include "base/thread_name.h"

#include <pthread.h>

#include <string>

namespace herald {

void NameThisThread(std::string_view name) {
  // Best effort: a name is a debugging aid, never a reason to fail.
  const std::string cut(name.substr(0, 15));
  pthread_setname_np(pthread_self(), cut.c_str());
}

}  // namespace herald
