// ingestd: the ingestion service binary. Everything but the broker-client factories lives in
// IngestdApp (system/ingestd_app.h); this file plugs in the real JetStream and Kafka sources.
#include "system/ingestd_app.h"
#include "system/kafka/kafka_source.h"
#include "system/mutant.h"
#include "system/nats/jetstream_source.h"

int main(int argc, char** argv) {
  using namespace ingestlab;
#ifdef INGESTD_MUTANTS
  CheckMutantSelection();  // build/tests/ingestd_mutant only
#endif
  SourceFactories factories;
  factories.jetstream = [](JetStreamOptions options, BatchSink* sink, Metrics* metrics,
                           Clock* clock) -> Result<std::unique_ptr<Source>> {
    auto source = JetStreamSource::Create(std::move(options), sink, metrics, clock);
    if (!source.ok()) return source.status();
    return std::unique_ptr<Source>(std::move(source.value()));
  };
  factories.kafka = [](KafkaOptions options, BatchSink* sink, Metrics* metrics,
                       Clock* clock) -> Result<std::unique_ptr<Source>> {
    auto source = KafkaSource::Create(std::move(options), sink, metrics, clock);
    if (!source.ok()) return source.status();
    return std::unique_ptr<Source>(std::move(source.value()));
  };
  return RunIngestd(argc, argv, factories);
}
