// The fuzz targets: every parser that takes bytes from outside ingestd or ingestlab, each as a
// plain function so that libFuzzer (fuzz_main.cc) and the Catch2 regression test
// (tests/unit/fuzz_regression_test.cc) run exactly the same code.
//
// CheckXxx(input) runs the parser on the input and checks properties that must hold for any
// input; it returns "" when they all held, else a description of the first that did not.
// Crashes, hangs, sanitizer findings and unbounded memory are findings too: the sanitizers and
// libFuzzer report those themselves. FuzzXxx(data, size) is CheckXxx for libFuzzer: it aborts
// with the description when a property does not hold, and returns 0 otherwise.
//
// Input formats (corpus files are written in them; see tests/fuzz/README.md):
//   envelope  — a message: "<transport> <subject>\n", then "Name: value" header lines, a blank
//               line, and the payload bytes. transport "kafka" is Kafka, anything else JetStream.
//   schema    — "<type> v<N>\n" (an entry of SchemaRegistry::List()), then the event's data.
//               "<type> v<N> structured" sends a structured CloudEvent whose "data" is the
//               rest; otherwise the data is the value of a CloudEvents binary-mode message.
//               A first line that names no known type picks one by its hash, so mutated inputs
//               still reach Validate, of some type.
//   scenario  — the scenario YAML; its first line also goes to ParseDurationSeconds.
//   event_log — an events.log text (gzip when it starts with the gzip magic), optionally
//               followed by a line "#acks" and the text of its events.acks sidecar.
//   import    — either kcat -J output (one message per line), or a JetStream message:
//               "jetstream <ack reply subject>\n", header lines, a blank line, the payload.
//               The first line also names a generated import scenario that must parse back.
// Thread-safety: the functions may run on any thread, one input at a time per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ingestlab::fuzz {

std::string CheckEnvelope(std::string_view input);
std::string CheckSchema(std::string_view input);
std::string CheckScenario(std::string_view input);
std::string CheckEventLog(std::string_view input);
std::string CheckImport(std::string_view input);

int FuzzEnvelope(const uint8_t* data, size_t size);
int FuzzSchema(const uint8_t* data, size_t size);
int FuzzScenario(const uint8_t* data, size_t size);
int FuzzEventLog(const uint8_t* data, size_t size);
int FuzzImport(const uint8_t* data, size_t size);

}  // namespace ingestlab::fuzz
