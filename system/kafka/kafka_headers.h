// Reading the headers of a consumed librdkafka message. Header-only, needing nothing but
// librdkafka, so that the harness's Kafka reader (harness/infra) reads them the way ingestd does.
#pragma once

#include <librdkafka/rdkafka.h>

#include <string>
#include <utility>
#include <vector>

namespace ingestlab {

// Appends every header of `msg` to `out` as (name, value), in order; a header without a value
// reads as "". A message without headers appends nothing.
inline void AppendKafkaHeaders(const rd_kafka_message_t* msg,
                               std::vector<std::pair<std::string, std::string>>* out) {
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(msg, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  const char* name;
  const void* value;
  size_t size;
  for (size_t i = 0;
       rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
       ++i) {
    out->emplace_back(name,
                      value != nullptr ? std::string(static_cast<const char*>(value), size) : "");
  }
}

}  // namespace ingestlab
