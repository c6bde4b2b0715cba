// Specification of the JetStream adapter's pure helpers: ack-reply parsing (origin and attempts
// of every delivered message come from it), URL splitting and natsStatus conversion.
#include <catch2/catch.hpp>

#include "system/nats/nats_util.h"

using namespace ingestlab;
using namespace ingestlab::nats_util;

TEST_CASE("ParseAckReply reads the stream sequence and delivery count") {
  uint64_t seq = 0;
  int64_t delivered = 0;
  SECTION("the original 9-token form") {
    REQUIRE(ParseAckReply("$JS.ACK.BILLING.ingestd-BILLING.3.1042.977.1700000000000000000.12", &seq,
                          &delivered));
    CHECK(seq == 1042);
    CHECK(delivered == 3);
    int64_t ts = 0;
    REQUIRE(ParseAckReply("$JS.ACK.BILLING.ingestd-BILLING.3.1042.977.1700000000000000000.12", &seq,
                          &delivered, &ts));
    CHECK(ts == 1700000000000000000);
  }
  SECTION("the form with domain and account hash") {
    REQUIRE(ParseAckReply(
        "$JS.ACK.hub.ACCHASH.BILLING.ingestd-BILLING.2.77.70.1700000000000000000.0.tok", &seq,
        &delivered));
    CHECK(seq == 77);
    CHECK(delivered == 2);
  }
  SECTION("anything else is rejected") {
    CHECK(!ParseAckReply("_INBOX.abc", &seq, &delivered));
    CHECK(!ParseAckReply("$JS.ACK.BILLING.c.x.1.1.1.1", &seq, &delivered));
    CHECK(!ParseAckReply("$JS.NAK.BILLING.c.1.1.1.1.1", &seq, &delivered));
    CHECK(!ParseAckReply("$JS.ACK.hub.BILLING.c.1.1.1.1.1", &seq, &delivered));  // 10 tokens
    int64_t ts = 0;
    CHECK(!ParseAckReply("$JS.ACK.BILLING.c.1.1.1.x.1", &seq, &delivered, &ts));
  }
}

TEST_CASE("SplitUrls accepts comma-separated lists with spaces") {
  CHECK(SplitUrls({"nats://a:1, nats://b:2", "nats://c:3"}) ==
        std::vector<std::string>{"nats://a:1", "nats://b:2", "nats://c:3"});
  CHECK(SplitUrls({" , "}).empty());
}

TEST_CASE("ToStatus marks broker outages transient and names the operation") {
  Status timeout = ToStatus(NATS_TIMEOUT, "fetching from BILLING");
  CHECK(timeout.is_transient());
  CHECK(timeout.message().rfind("nats: fetching from BILLING: ", 0) == 0);
  CHECK(ToStatus(NATS_NO_RESPONDERS, "x").is_transient());
  Status bad = ToStatus(NATS_INVALID_ARG, "creating stream", static_cast<jsErrCode>(10065));
  CHECK(!bad.is_transient());
  CHECK(bad.message().find("jetstream error 10065") != std::string::npos);
  CHECK(ToStatus(NATS_OK, "x").ok());
}
