// Catch2 checks that a text holds (or does not hold) each of several pieces: one CHECK per
// piece, the piece named on failure.
// Thread-safety: on the test thread only, as every Catch2 assertion.
#pragma once

#include <initializer_list>
#include <string>

#include <catch2/catch.hpp>

namespace ingestlab::testing {

inline void CheckContainsAll(const std::string& text, std::initializer_list<const char*> pieces) {
  for (const char* piece : pieces) {
    INFO("expected: " << piece);
    CHECK(text.find(piece) != std::string::npos);
  }
}

inline void CheckContainsNone(const std::string& text, std::initializer_list<const char*> pieces) {
  for (const char* piece : pieces) {
    INFO("not expected: " << piece);
    CHECK(text.find(piece) == std::string::npos);
  }
}

}  // namespace ingestlab::testing
