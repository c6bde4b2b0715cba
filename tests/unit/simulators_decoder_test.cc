// The simulators against ingestd's real envelope decoder and embedded schemas: every message a
// simulated service sends decodes the way its expected outcome says — non-faulted events are
// valid for their catalog schema, malformed and oversized copies fail with reason parse or
// schema, poison copies with schema.
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "simulators/faults.h"
#include "system/envelope.h"
#include "system/schema.h"

using namespace ingestlab;

namespace {

std::string Outcome(const Status& st) {
  if (st.ok()) return sim::kExpectApplied;
  if (st.code() == Status::Code::kParse) return sim::kExpectParse;
  if (st.code() == Status::Code::kSchema) return sim::kExpectSchema;
  return "error:" + st.ToString();
}

}  // namespace

TEST_CASE("every simulated message decodes as its expected outcome says") {
  auto schemas = SchemaRegistry::LoadEmbedded();
  REQUIRE(schemas.ok());
  EnvelopeDecoder decoder(DecoderOptions{1 << 20, schemas.value().get()});
  const auto faults = sim::FaultSpec::Parse(
                          "duplicate=0.02,malformed=0.03,poison=0.03,out_of_order=0.05,"
                          "schema_mix=0.3,oversized=0.002,unknown_customer=0.05")
                          .value();
  for (const auto& service : sim::AllServices()) {
    sim::StreamOptions o;
    o.service = service;
    o.seed = 17;
    o.faults = faults;
    o.service_envelope_share = 0.2;
    o.customer_dialect_share = 0.2;
    o.transport = service == "billing" || service == "crm" ? sim::TransportKind::kKafka
                                                           : sim::TransportKind::kJetStream;
    auto stream = sim::MessageStream::Create(o).value();
    std::map<std::string, int> outcomes;
    for (int i = 0; i < 4000; ++i) {
      const sim::PlannedMessage m = stream->Next(1'767'225'600'000 + i * 5);
      RawMessage raw;
      raw.payload = m.payload;
      raw.transport =
          m.transport == sim::TransportKind::kKafka ? Transport::kKafka : Transport::kJetStream;
      raw.subject = m.subject;
      raw.key = m.key;
      raw.origin = "test:" + std::to_string(i);
      for (const auto& h : m.headers) raw.headers.push_back(h);
      Event e;
      const Status st = decoder.Decode(raw, &e);
      // A duplicate decodes like its original; ingestd tells them apart by id.
      const std::string want =
          m.expected == sim::kExpectDuplicate ? sim::kExpectApplied : m.expected;
      INFO(service << " " << m.type << " " << m.fault << " " << st.ToString() << "\n"
                   << m.payload.substr(0, 600));
      REQUIRE(Outcome(st) == want);
      if (st.ok()) {
        CHECK(e.id == m.event_id);
        CHECK(!e.customer_id.empty());
        if (m.type.rfind("customer.", 0) != 0 && m.dialect != sim::Dialect::kCustomerEvent) {
          CHECK(e.type == m.type);
        }
        CHECK(e.event_time_ms / 1000 == m.event_time_ms / 1000);
      }
      ++outcomes[want];
    }
    INFO(service);
    CHECK(outcomes[sim::kExpectApplied] > 3000);
    CHECK(outcomes[sim::kExpectSchema] > 50);
    CHECK(outcomes[sim::kExpectParse] > 20);
  }
}
