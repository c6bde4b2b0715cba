// Decode + validate cost per event on the ingest hot path (EnvelopeDecoder with the embedded
// SchemaRegistry), for each envelope dialect. Numbers are recorded in docs/envelopes.md.
// Run: ./build/tests/decode_bench
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>

#include "system/envelope.h"
#include "system/schema.h"
#include "system/sha256.h"
#include "tests/support/seed_events.h"

using namespace ingestlab;

namespace {

const SchemaRegistry& Schemas() {
  static const std::unique_ptr<SchemaRegistry> registry = [] {
    auto loaded = SchemaRegistry::LoadEmbedded();
    if (!loaded.ok()) {
      std::fprintf(stderr, "schemas: %s\n", loaded.status().ToString().c_str());
      std::abort();
    }
    return std::move(loaded).value();
  }();
  return *registry;
}

// A typical CloudEvents purchase (about 400 bytes).
const char kCloudEventPurchase[] =
    R"({"specversion":"1.0","id":"9f0c1e52-7a4b-4c1d-8e2f-3a4b5c6d7e8f","source":"billing-service",)"
    R"("type":"billing.purchase.completed","time":"2025-12-12T10:30:00.250Z","subject":"cust_000042",)"
    R"("datacontenttype":"application/json","orgid":"org-7","data":{"purchase_id":"ord_000123456",)"
    R"("customer_id":"cust_000042","amount":149.95,"currency":"USD","product_name":"Widget Pro",)"
    R"("product_sku":"WGT-100","quantity":2,"warranty_expires":1765670400,"channel":"web",)"
    R"("coupon":"WINTER25"}})";

// The seed 000 full-featured customer event.
constexpr const char* kCustomerPurchase = testing::kSeedFullFeatured;

const char kServiceUserCreated[] =
    R"({"id":"6f1c2a9e-3b4d-4f5a-9c8e-1a2b3c4d5e6f","type":"user.created","source":"auth-service",)"
    R"("organization_id":"9b2e7c1a-0d3f-4e5b-8a6c-7d8e9f0a1b2c","timestamp":"2025-12-12T10:30:00Z",)"
    R"("schema_version":"1.0","data":{"user_id":"u-1001","email":"ana@example.com",)"
    R"("first_name":"Ana","last_name":"Silva","status":"active"}})";

void Run(benchmark::State& state, const RawMessage& msg, const SchemaRegistry* schemas) {
  EnvelopeDecoder decoder(DecoderOptions{1 << 20, schemas});
  Event event;
  for (auto _ : state) {
    const Status st = decoder.Decode(msg, &event);
    if (!st.ok()) {
      state.SkipWithError(st.ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(event.id.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(msg.payload.size()));
  state.counters["bytes"] = static_cast<double>(msg.payload.size());
}

RawMessage Message(std::string subject, std::string payload, Headers headers = {}) {
  RawMessage m;
  m.subject = std::move(subject);
  m.payload = std::move(payload);
  m.headers = std::move(headers);
  m.received_at_ms = 1765535400000;
  return m;
}

void BM_CloudEventsPurchase(benchmark::State& state) {
  Run(state, Message("billing.purchase.completed", kCloudEventPurchase), &Schemas());
}
BENCHMARK(BM_CloudEventsPurchase);

void BM_CloudEventsPurchaseNoSchema(benchmark::State& state) {
  Run(state, Message("billing.purchase.completed", kCloudEventPurchase), nullptr);
}
BENCHMARK(BM_CloudEventsPurchaseNoSchema);

void BM_CustomerEventSha256Id(benchmark::State& state) {
  Run(state, Message("customer.events.cust_001.purchase", kCustomerPurchase), &Schemas());
}
BENCHMARK(BM_CustomerEventSha256Id);

void BM_CustomerEventMsgIdHeader(benchmark::State& state) {
  Run(state,
      Message("customer.events.cust_001.purchase", kCustomerPurchase,
              {{"Nats-Msg-Id", "pub-7f3a9c"}}),
      &Schemas());
}
BENCHMARK(BM_CustomerEventMsgIdHeader);

void BM_ServiceEnvelopeUserCreated(benchmark::State& state) {
  Run(state, Message("auth.user.created", kServiceUserCreated), &Schemas());
}
BENCHMARK(BM_ServiceEnvelopeUserCreated);

void BM_Sha256Hex(benchmark::State& state) {
  const std::string bytes(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) benchmark::DoNotOptimize(Sha256Hex(bytes));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Sha256Hex)->Arg(400)->Arg(4096);

}  // namespace

BENCHMARK_MAIN();
