// A backend using libherald_client: subscribes to greetings.> on a heraldd
// over gRPC, publishes until its own message comes back, and exits 0.
//
//   ./client_example 127.0.0.1:9090
#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include "herald/client.h"

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  herald::ClientOptions options;
  if (argc > 1) options.target = argv[1];
  herald::Client client(options);

  std::atomic<bool> received{false};
  auto sub = client.Subscribe("greetings.>", [&](const herald::Delivery& d) {
    if (d.kind != herald::Delivery::Kind::kMessage) return;
    std::cout << "received " << d.message->topic << ": " << d.message->payload << "\n";
    received = true;
  });

  // The subscription starts on its own thread: publish until it sees one.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!received && std::chrono::steady_clock::now() < deadline) {
    herald::Result<herald::PublishAck> ack = client.Publish("greetings.en", "hello from a client");
    if (!ack.ok()) {
      std::cerr << "publish: " << ack.status().ToString() << "\n";
    } else {
      std::cout << "published at offset " << ack->offset << "\n";
    }
    std::this_thread::sleep_for(100ms);
  }
  if (!received) {
    std::cerr << "no message came back within 20 s\n";
    return 1;
  }
  return 0;
}
