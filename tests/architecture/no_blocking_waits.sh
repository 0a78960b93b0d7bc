#!/bin/sh
# A loop never waits: no event-loop worker or gRPC reactor blocks on a peer,
# a store or a lock held across I/O. This check keeps the ways to wait out of
# the code that runs there (the fronts, io/, the cluster): futures and
# promises, condition-variable waits, and the broker's blocking calls
# (RequestSync, the blocking Resume and Publish, which wait for another node).
# A line that waits on a thread of its own (a controlling thread, a worker
# thread's idle wait) says why with a `blocking-ok:` comment on the line
# before it.
cd "$(dirname "$0")/../.." || exit 2
pattern='std::future|std::promise|\.wait\(|\.wait_for\(|\.wait_until\(|RequestSync\(|broker_?(\.|->)Resume\(|broker_?(\.|->)Publish\('
found=$(grep -rnE -B1 "$pattern" frontends io cluster server store/redis --include='*.cc' --include='*.h' |
  awk '/blocking-ok:/ { skip = 1; next } { if (!skip && $0 !~ /^--$/ && $0 ~ /\.(cc|h):[0-9]+:/) print; skip = 0 }' |
  grep -E "$pattern")
if [ -n "$found" ]; then
  echo "blocking waits on loop or reactor paths (say why with a 'blocking-ok:' comment on the line before, if the thread is not a loop or reactor):"
  echo "$found"
  exit 1
fi
echo "no blocking waits in frontends/, io/, cluster/, server/, store/redis/"
