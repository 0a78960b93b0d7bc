#include "server/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

namespace herald::server {
namespace {

ParsedArgs Parse(std::vector<std::string> args) {
  std::vector<const char*> argv = {"heraldd"};
  for (const auto& a : args) argv.push_back(a.c_str());
  return ParseArgs(static_cast<int>(argv.size()), argv.data());
}

std::string WriteTemp(const std::string& text) {
  std::string path = ::testing::TempDir() + "/herald_config_test.toml";
  std::ofstream(path) << text;
  return path;
}

TEST(Config, DefaultsListenOnLoopback8080) {
  ParsedArgs p = Parse({});
  ASSERT_EQ(p.action, ParsedArgs::Action::kRun);
  EXPECT_EQ(p.config.server.listen, "127.0.0.1:8080");
  EXPECT_EQ(p.config.log_level, "info");
}

TEST(Config, ClusterSectionSetsEveryKey) {
  Config c;
  Status s = ApplyToml(R"(
[cluster]
listen = "127.0.0.1:7000"
advertise = "10.0.0.5:7000"
seeds = ["10.0.0.6:7000"]
name = "prod"
secret = "s3cret"
heartbeat_interval_ms = 200
peer_timeout_ms = 900
reconnect_min_ms = 50
reconnect_max_ms = 800
forward_timeout_ms = 1500
max_link_queue_bytes = 1048576
max_batch_bytes = 8388608
max_members = 12
tls_cert_file = "/etc/herald/node.pem"
tls_key_file = "/etc/herald/node.key"
tls_ca_file = "/etc/herald/ca.pem"
min_secret_length = 24
)",
                       "test.toml", c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  const ClusterOptions& o = c.server.cluster;
  EXPECT_EQ(o.listen, "127.0.0.1:7000");
  EXPECT_EQ(o.advertise, "10.0.0.5:7000");
  EXPECT_EQ(o.seeds, (std::vector<std::string>{"10.0.0.6:7000"}));
  EXPECT_EQ(o.name, "prod");
  EXPECT_EQ(o.secret, "s3cret");
  EXPECT_EQ(o.heartbeat_interval.count(), 200);
  EXPECT_EQ(o.peer_timeout.count(), 900);
  EXPECT_EQ(o.reconnect_min.count(), 50);
  EXPECT_EQ(o.reconnect_max.count(), 800);
  EXPECT_EQ(o.forward_timeout.count(), 1500);
  EXPECT_EQ(o.max_link_queue_bytes, 1048576u);
  EXPECT_EQ(o.max_batch_bytes, 8388608u);
  EXPECT_EQ(o.max_members, 12u);
  EXPECT_EQ(o.tls_cert_file, "/etc/herald/node.pem");
  EXPECT_EQ(o.tls_key_file, "/etc/herald/node.key");
  EXPECT_EQ(o.tls_ca_file, "/etc/herald/ca.pem");
  EXPECT_EQ(o.min_secret_length, 24u);
}

TEST(Config, ClusterSecretComesFromAFileWithoutItsNewline) {
  const std::string path = ::testing::TempDir() + "/cluster_secret";
  {
    std::ofstream f(path);
    f << "0123456789abcdef0123\n";
  }
  Config c;
  Status s = ApplyToml("[cluster]\nsecret_file = \"" + path + "\"\n", "t", c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(c.server.cluster.secret, "0123456789abcdef0123");
  Config both;
  s = ApplyToml("[cluster]\nsecret = \"x\"\nsecret_file = \"" + path + "\"\n", "t", both);
  EXPECT_NE(s.message().find("exclusive"), std::string::npos) << s.message();
  Config low;
  s = ApplyToml("[cluster]\nmin_secret_length = 8\n", "t", low);
  EXPECT_NE(s.message().find("cluster.min_secret_length"), std::string::npos) << s.message();
}

TEST(Config, ClusterRejectsZeroMembers) {
  Config c;
  Status s = ApplyToml("[cluster]\nmax_members = 0\n", "t", c);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cluster.max_members"), std::string::npos) << s.message();
}

TEST(Config, ClusterRejectsATimeoutNotAboveTheHeartbeat) {
  Config c;
  Status s = ApplyToml("[cluster]\nheartbeat_interval_ms = 500\npeer_timeout_ms = 500\n", "t", c);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cluster.peer_timeout_ms"), std::string::npos) << s.message();
}

TEST(Config, SeedsWithoutAClusterListenAddressAreRefused) {
  ParsedArgs p = Parse({"--seed", "127.0.0.1:7001"});
  EXPECT_EQ(p.action, ParsedArgs::Action::kExit);
  EXPECT_NE(p.output.find("cluster_listen"), std::string::npos) << p.output;
}

TEST(Config, TlsSectionSetsEveryKeyAndMayReplaceThePlainListener) {
  const std::string path = WriteTemp(R"(
listen = ""
[tls]
listen = "127.0.0.1:8443"
grpc_listen = "127.0.0.1:9443"
cert_file = "/etc/herald/cert.pem"
key_file = "/etc/herald/key.pem"
client_ca_file = "/etc/herald/clients.pem"
min_version = "1.3"
handshake_timeout_ms = 2500
)");
  ParsedArgs p = Parse({"--config", path});
  ASSERT_EQ(p.action, ParsedArgs::Action::kRun) << p.output;
  const TlsOptions& t = p.config.server.tls;
  EXPECT_EQ(p.config.server.listen, "");  // HTTPS only
  EXPECT_EQ(t.listen, "127.0.0.1:8443");
  EXPECT_EQ(t.grpc_listen, "127.0.0.1:9443");
  EXPECT_EQ(t.cert_file, "/etc/herald/cert.pem");
  EXPECT_EQ(t.key_file, "/etc/herald/key.pem");
  EXPECT_EQ(t.client_ca_file, "/etc/herald/clients.pem");
  EXPECT_EQ(t.min_version, "1.3");
  EXPECT_EQ(t.handshake_timeout, std::chrono::milliseconds(2500));
  // Without a TLS listener, no listener at all is refused; so is a bad address.
  EXPECT_EQ(Parse({"--config", WriteTemp("listen = \"\"\n")}).exit_code, 2);
  ParsedArgs bad = Parse({"--config", WriteTemp("[tls]\nlisten = \"nowhere\"\n")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("tls.listen"), std::string::npos) << bad.output;
  EXPECT_EQ(Parse({"--config", WriteTemp("[tls]\nhandshake_timeout_ms = 5\n")}).exit_code, 2);
  // Two listeners may not share an address (port 0 excepted).
  ParsedArgs same = Parse({"--config", WriteTemp("grpc_listen = \"127.0.0.1:9443\"\n[tls]\n"
                                                 "grpc_listen = \"127.0.0.1:9443\"\n")});
  EXPECT_EQ(same.exit_code, 2);
  EXPECT_NE(same.output.find("tls.grpc_listen: '127.0.0.1:9443' is grpc_listen's address too"),
            std::string::npos)
      << same.output;
  EXPECT_EQ(Parse({"--config", WriteTemp("listen = \"127.0.0.1:0\"\n[tls]\n"
                                         "listen = \"127.0.0.1:0\"\n")})
                .action,
            ParsedArgs::Action::kRun);
}

TEST(Config, ChangedKeysNamesEachDifferingKeyOnce) {
  Config a, b;
  ASSERT_TRUE(ApplyToml("workers = 2\n[http]\nmax_body_bytes = 4096\n", "a", a).ok());
  ASSERT_TRUE(
      ApplyToml("workers = 3\n[http]\nmax_body_bytes = 4096\n[tls]\ncert_file = \"c\"\n", "b", b)
          .ok());
  Result<std::string> pa = PrintToml("", "a", a);
  Result<std::string> pb = PrintToml("", "b", b);
  ASSERT_TRUE(pa.ok() && pb.ok());
  Result<std::vector<std::string>> changed = ChangedKeys(*pa, *pb);
  ASSERT_TRUE(changed.ok()) << changed.status().message();
  EXPECT_EQ(*changed, (std::vector<std::string>{"tls.cert_file", "workers"}));  // sorted
  EXPECT_TRUE(ChangedKeys(*pa, *pa)->empty());
}

TEST(Config, StableFlagsAreAccepted) {
  ParsedArgs p = Parse({"--listen", "0.0.0.0:0", "--grpc-listen", "127.0.0.1:9090",
                        "--cluster-listen", "127.0.0.1:7000", "--seed", "127.0.0.1:7001", "--seed",
                        "[::1]:7002", "--node-id", "n1", "--workers", "3", "--log-level", "debug"});
  ASSERT_EQ(p.action, ParsedArgs::Action::kRun) << p.output;
  EXPECT_EQ(p.config.server.listen, "0.0.0.0:0");
  EXPECT_EQ(p.config.server.grpc.listen, "127.0.0.1:9090");
  EXPECT_EQ(p.config.server.cluster.listen, "127.0.0.1:7000");
  EXPECT_EQ(p.config.server.cluster.seeds,
            (std::vector<std::string>{"127.0.0.1:7001", "[::1]:7002"}));
  EXPECT_EQ(p.config.broker.node_id, "n1");
  EXPECT_EQ(p.config.server.workers, 3);
  EXPECT_EQ(p.config.log_level, "debug");
}

TEST(Config, HelpListsEveryFlagAndExitsZero) {
  ParsedArgs p = Parse({"--help"});
  ASSERT_EQ(p.action, ParsedArgs::Action::kExit);
  EXPECT_EQ(p.exit_code, 0);
  for (const char* flag : {"--listen", "--grpc-listen", "--cluster-listen", "--seed", "--node-id",
                           "--workers", "--config", "--log-level"}) {
    EXPECT_NE(p.output.find(flag), std::string::npos) << flag;
  }
}

TEST(Config, BadFlagValueExitsTwoNamingTheKey) {
  ParsedArgs p = Parse({"--listen", "nonsense"});
  EXPECT_EQ(p.exit_code, 2);
  EXPECT_NE(p.output.find("'listen'"), std::string::npos) << p.output;
  EXPECT_EQ(Parse({"--workers", "-1"}).exit_code, 2);
  EXPECT_EQ(Parse({"--log-level", "loud"}).exit_code, 2);
  EXPECT_EQ(Parse({"--node-id", "a.b"}).exit_code, 2);
  EXPECT_EQ(Parse({"--no-such-flag"}).exit_code, 2);
}

TEST(Config, FileSetsEveryLimitAndFlagsOverrideIt) {
  const std::string path = WriteTemp(R"(
listen = "127.0.0.1:9000"
workers = 2
node_id = "alpha"
[limits]
max_payload_bytes = 4096
max_subscriptions_per_connection = 10
max_topics = 500
max_topic_bytes = 8000000
max_history_bytes = 1000000
max_topic_length = 64
max_topic_tokens = 8
max_inbox_pending = 100
[history]
max_messages = 10
max_bytes = 2048
max_age_ms = 5000
topic_idle_ttl_ms = 6000
[[history.rule]]
pattern = "volatile.>"
max_messages = 0
[http]
max_header_bytes = 4096
max_body_bytes = 1024
header_timeout_ms = 1500
idle_timeout_ms = 2500
max_connections = 7
cors_origins = ["https://a.example", "*"]
[websocket]
max_message_bytes = 2048
ping_interval_ms = 100
idle_timeout_ms = 300
permessage_deflate = false
allowed_origins = ["https://app.example"]
max_outbound_bytes = 65536
slow_consumer_policy = "disconnect"
)");
  ParsedArgs p = Parse({"--config", path, "--listen", "127.0.0.1:9001"});
  ASSERT_EQ(p.action, ParsedArgs::Action::kRun) << p.output;
  const Config& c = p.config;
  EXPECT_EQ(c.server.listen, "127.0.0.1:9001");  // the flag wins
  EXPECT_EQ(c.server.workers, 2);
  EXPECT_EQ(c.broker.node_id, "alpha");
  EXPECT_EQ(c.broker.max_payload_bytes, 4096u);
  EXPECT_EQ(c.broker.max_subscriptions_per_sink, 10u);
  EXPECT_EQ(c.broker.max_topics, 500u);
  EXPECT_EQ(c.broker.max_topic_bytes, 8000000u);
  EXPECT_EQ(c.broker.max_history_bytes, 1000000u);
  EXPECT_EQ(c.broker.topic_limits.max_length, 64u);
  EXPECT_EQ(c.broker.topic_limits.max_tokens, 8u);
  EXPECT_EQ(c.broker.max_inbox_pending, 100u);
  EXPECT_EQ(c.broker.default_history.max_messages, 10u);
  EXPECT_EQ(c.broker.default_history.max_bytes, 2048u);
  EXPECT_EQ(c.broker.default_history.max_age.count(), 5000);
  EXPECT_EQ(c.broker.topic_idle_ttl.count(), 6000);
  ASSERT_EQ(c.broker.history_rules.size(), 1u);
  EXPECT_EQ(c.broker.history_rules[0].pattern, "volatile.>");
  EXPECT_EQ(c.broker.history_rules[0].limits.max_messages, 0u);
  EXPECT_EQ(c.broker.history_rules[0].limits.max_bytes, 2048u);  // inherits the default
  EXPECT_EQ(c.server.http.max_header_bytes, 4096u);
  EXPECT_EQ(c.server.http.max_body_bytes, 1024u);
  EXPECT_EQ(c.server.http.header_timeout.count(), 1500);
  EXPECT_EQ(c.server.http.idle_timeout.count(), 2500);
  EXPECT_EQ(c.server.http.max_connections, 7u);
  EXPECT_EQ(c.server.http.cors_origins, (std::vector<std::string>{"https://a.example", "*"}));
  const WebSocketLimits& w = c.server.websocket;
  EXPECT_EQ(w.max_message_bytes, 2048u);
  EXPECT_EQ(w.ping_interval.count(), 100);
  EXPECT_EQ(w.idle_timeout.count(), 300);
  EXPECT_FALSE(w.permessage_deflate);
  EXPECT_EQ(w.allowed_origins, (std::vector<std::string>{"https://app.example"}));
  EXPECT_EQ(w.outbound.max_bytes, 65536u);
  EXPECT_EQ(w.outbound.policy, SlowConsumerPolicy::kDisconnect);
}

TEST(Config, BadSlowConsumerPolicyNamesTheKey) {
  Config c;
  Status s = ApplyToml("[websocket]\nslow_consumer_policy = \"maybe\"\n", "t.toml", c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'websocket.slow_consumer_policy'"), std::string::npos);
}

TEST(Config, BadFileValueNamesTheKey) {
  Config c;
  Status s = ApplyToml("[limits]\nmax_payload_bytes = \"big\"\n", "t.toml", c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'limits.max_payload_bytes'"), std::string::npos) << s.message();
}

TEST(Config, UnknownKeyIsAnError) {
  Config c;
  Status s = ApplyToml("[http]\nmax_body_byte = 5\n", "t.toml", c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("unknown key 'http.max_body_byte'"), std::string::npos) << s.message();
}

TEST(Config, SyntaxErrorGivesFileAndLine) {
  Config c;
  Status s = ApplyToml("listen = \n", "bad.toml", c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("bad.toml:1:"), std::string::npos) << s.message();
}

TEST(Config, InvalidHistoryRulePatternIsRejected) {
  Config c;
  Status s = ApplyToml("[[history.rule]]\npattern = \"a.>.b\"\n", "t.toml", c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("history.rule[0].pattern"), std::string::npos) << s.message();
}

TEST(Config, ErrorsNameTheKeyWhatWasExpectedAndTheValueGiven) {
  const std::pair<const char*, const char*> cases[] = {
      {"[http]\nrequest_burst = 0\n",
       "'http.request_burst' must be an integer from 1 to 1048576, not 0"},
      {"[http]\nmax_header_bytes = 100\n",
       "'http.max_header_bytes' must be an integer number of bytes >= 256, not 100"},
      {"[websocket]\nping_interval_ms = 1.5\n",
       "'websocket.ping_interval_ms' must be an integer number of milliseconds >= 1, not 1.5"},
      {"[websocket]\npermessage_deflate = \"yes\"\n",
       "'websocket.permessage_deflate' must be true or false, not 'yes'"},
      {"[grpc]\nmax_commands_per_second = -1\n",
       "'grpc.max_commands_per_second' must be a number >= 0, not -1"},
      {"[sse]\nslow_consumer_policy = \"maybe\"\n",
       "'sse.slow_consumer_policy' must be \"drop\" or \"disconnect\", not 'maybe'"},
      {"[http]\ncors_origins = \"*\"\n", "'http.cors_origins' must be an array of strings"},
      {"http = 5\n", "'http' must be a table"},
      {"[[history.rule]]\nmax_age_ms = 0\npattern = \"a\"\n",
       "'history.rule[0].max_age_ms' must be an integer number of milliseconds >= 1, not 0"},
  };
  for (const auto& [toml, message] : cases) {
    Config c;
    Status s = ApplyToml(toml, "t.toml", c);
    ASSERT_FALSE(s.ok()) << toml;
    EXPECT_NE(s.message().find(message), std::string::npos) << s.message();
  }
}

// docs/CONFIG.md's part for a section: from its heading ("## `[http]` ...",
// or "## Flags" for the top-level keys) to the next heading.
std::string DocPart(const std::string& doc, const std::string& section) {
  const std::string heading = section.empty() ? "\n## Flags" : "\n## `[" + section + "]`";
  const size_t begin = doc.find(heading);
  if (begin == std::string::npos) return "";
  return doc.substr(begin, doc.find("\n## ", begin + 1) - begin);
}

// The cell after the first cell of a table row that names `key`, or
// nullopt when no row of `part` names it.
std::optional<std::string> DocDefault(const std::string& part, const std::string& key) {
  const std::regex names_key("`" + key + "[` ]");
  std::istringstream lines(part);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("| ", 0) != 0) continue;
    std::vector<std::string> cells;
    std::istringstream row(line.substr(1));
    for (std::string cell; std::getline(row, cell, '|');) cells.push_back(cell);
    for (size_t i = 0; i + 1 < cells.size(); ++i) {
      if (std::regex_search(cells[i], names_key)) return cells[i + 1];
    }
  }
  return std::nullopt;
}

// Adding a setting without documenting it (or changing a default without
// the doc) fails here: every key the reader knows has a row in its
// section of docs/CONFIG.md, and a plain default there (a number,
// true/false, a name) is the code's.
TEST(Config, EveryKeyIsDocumentedWithItsDefault) {
  std::ifstream in(HERALD_CONFIG_MD);
  ASSERT_TRUE(in) << HERALD_CONFIG_MD;
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const std::vector<ConfigKey> keys = ConfigKeys();
  EXPECT_GT(keys.size(), 90u);  // the reader ran over every section
  for (const ConfigKey& k : keys) {
    const std::string section = k.section.substr(0, k.section.find('.'));
    const std::string part = DocPart(doc, section);
    ASSERT_FALSE(part.empty()) << "docs/CONFIG.md has no part for [" << section << "]";
    const std::string name = (k.section.empty() ? "" : k.section + ".") + k.key;
    std::optional<std::string> cell = DocDefault(part, k.key);
    if (!cell) {
      ADD_FAILURE() << "docs/CONFIG.md does not document '" << name << "'";
      continue;
    }
    const std::string& d = k.default_value;
    if (d.empty() || d == "[]" || d == "\"\"") continue;  // said in words
    if (std::isdigit(static_cast<unsigned char>(d[0]))) {
      std::smatch first;
      ASSERT_TRUE(std::regex_search(*cell, first, std::regex("[0-9]+"))) << name << *cell;
      EXPECT_EQ(first.str(), d) << "'" << name << "' defaults to " << d << "; docs/CONFIG.md says"
                                << *cell;
    } else if (d == "true" || d == "false") {
      EXPECT_NE(cell->find(d), std::string::npos) << "'" << name << "': " << *cell;
    } else {  // a string or an enum: "name" or `name`
      const std::string bare = d.substr(1, d.size() - 2);
      EXPECT_TRUE(cell->find(d) != std::string::npos ||
                  cell->find("`" + bare + "`") != std::string::npos)
          << "'" << name << "' defaults to " << d << "; docs/CONFIG.md says " << *cell;
    }
  }
}

TEST(Config, ThePrintedConfigReadsBackToTheSameAndHidesSecrets) {
  const std::string text = R"(
node_id = "n1"
[store]
kind = "redis"
redis_host = "127.0.0.1"
redis_prefix = "h"
redis_password = "hunter2"
redis_shards = ["a=127.0.0.1:7000", "b=[::1]:7001"]
[[history.rule]]
pattern = "chat.>"
max_messages = 7
[auth]
[[auth.keys]]
alg = "HS256"
secret = "0123456789abcdef0123456789abcdef"
[[auth.rules]]
subject = "*"
subscribe = ["chat.>"]
[hooks]
url = "http://127.0.0.1:1/"
[hooks.publish]
enabled = true
patterns = ["orders.>"]
[[queues]]
name = "mail"
pattern = "jobs.mail"
backoff_ms = [100, 2000]
)";
  Config c;
  ASSERT_TRUE(ApplyToml(text, "test", c).ok());
  c.broker.node_id = "from-a-flag";  // as a flag would: the effective value is printed
  Result<std::string> printed = PrintToml(text, "test", c);
  ASSERT_TRUE(printed.ok()) << printed.status().message();
  EXPECT_EQ(printed->find("hunter2"), std::string::npos);
  EXPECT_EQ(printed->find("0123456789abcdef"), std::string::npos);
  EXPECT_NE(printed->find("node_id = 'from-a-flag'"), std::string::npos);
  EXPECT_NE(printed->find("'b=[::1]:7001'"), std::string::npos);
  EXPECT_NE(printed->find("backoff_ms = [ 100, 2000 ]"), std::string::npos) << *printed;

  Config again;
  ASSERT_TRUE(ApplyToml(*printed, "printed", again).ok());
  EXPECT_EQ(again.broker.node_id, "from-a-flag");
  EXPECT_EQ(again.redis.shards.size(), 2u);
  EXPECT_EQ(again.broker.history_rules.size(), 1u);
  EXPECT_EQ(again.queues.size(), 1u);
  EXPECT_TRUE(again.server.hooks.publish.enabled);
  Result<std::string> reprinted = PrintToml(*printed, "printed", again);
  ASSERT_TRUE(reprinted.ok());
  EXPECT_EQ(*reprinted, *printed);
}

TEST(Config, CheckConfigReadsTheFileAndAsksTheCallerToCheckTheRest) {
  ParsedArgs p = Parse({"--check-config", WriteTemp("[http]\nmax_connections = 50\n")});
  ASSERT_EQ(p.action, ParsedArgs::Action::kCheck);
  EXPECT_EQ(p.config.server.http.max_connections, 50u);
  EXPECT_EQ(Parse({"--check-config", WriteTemp("[http]\nmax_connections = -1\n")}).exit_code, 2);
  // Either the file to run with or the file to check, not both.
  EXPECT_EQ(Parse({"--check-config", "a.toml", "--config", "b.toml"}).exit_code, 2);
}

TEST(Config, MissingConfigFileExitsTwo) {
  ParsedArgs p = Parse({"--config", "/nonexistent/herald.toml"});
  EXPECT_EQ(p.exit_code, 2);
  EXPECT_NE(p.output.find("cannot read"), std::string::npos);
}

}  // namespace
}  // namespace herald::server
