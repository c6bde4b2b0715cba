// Specification of the deterministic extractive summary (system/summary.h).
#include <catch2/catch.hpp>

#include <string>

#include "system/summary.h"

using ingestlab::ExtractiveSummary;

namespace {

const char kTicket[] =
    "Hello team. The laptop battery drains within an hour after the latest update. "
    "I bought it last spring from your online store. "
    "Battery drain happens even when the laptop is idle and the screen is off. "
    "My cat likes to sit on the keyboard. "
    "Please advise whether the battery or the update causes the drain. "
    "Thanks in advance for your help with the battery.";

}  // namespace

TEST_CASE("short text is its own summary") {
  CHECK(ExtractiveSummary("  Printer jams.  ") == "Printer jams.");
  CHECK(ExtractiveSummary("") == "");
}

TEST_CASE("a summary keeps the sentences dense in the text's recurring words") {
  const std::string summary = ExtractiveSummary(kTicket, 200);
  CHECK(summary.size() <= 200);
  CHECK(summary.find("battery") != std::string::npos);
  CHECK(summary.find("cat likes") == std::string::npos);
  CHECK(summary.find("Hello team") == std::string::npos);

  SECTION("chosen sentences stay in their original order") {
    const auto drains = summary.find("drains within");
    const auto idle = summary.find("idle");
    if (drains != std::string::npos && idle != std::string::npos) CHECK(drains < idle);
    const std::string wide = ExtractiveSummary(kTicket, 300);
    CHECK(wide.size() <= 300);
    size_t last = 0;
    for (const char* piece : {"drains within", "even when", "Please advise"}) {
      const auto at = wide.find(piece);
      REQUIRE(at != std::string::npos);
      CHECK(at >= last);
      last = at;
    }
  }
  SECTION("the same text always gives the same summary") {
    CHECK(ExtractiveSummary(kTicket, 200) == summary);
  }
}

TEST_CASE("one long sentence is cut at a word boundary with an ellipsis") {
  std::string text;
  for (int i = 0; i < 100; ++i) text += "word" + std::to_string(i) + " ";
  const std::string summary = ExtractiveSummary(text, 50);
  CHECK(summary.size() <= 50);
  CHECK(summary.substr(summary.size() - 3) == "...");
  CHECK(summary.rfind("word", 0) == 0);
  CHECK(summary[summary.size() - 4] != ' ');
}

TEST_CASE("UTF-8 sequences are never split") {
  std::string text;
  for (int i = 0; i < 80; ++i) text += "\xc3\xa9t\xc3\xa9";  // "été" without spaces
  const std::string summary = ExtractiveSummary(text, 21);
  CHECK(summary.size() <= 21);
  for (size_t i = 0; i + 3 < summary.size(); ++i) {
    // Every lead byte 0xC3 is followed by its continuation byte.
    if (static_cast<unsigned char>(summary[i]) == 0xC3) {
      CHECK((static_cast<unsigned char>(summary[i + 1]) & 0xC0) == 0x80);
    }
  }
  CHECK((static_cast<unsigned char>(summary[summary.size() - 4]) & 0xE0) != 0xC0);
}

TEST_CASE("line breaks end sentences") {
  const std::string text =
      "Subject: refund request\nOrder 1234 arrived broken and the refund is late\n"
      "Refund the order please, the order was broken on arrival\nRegards";
  const std::string summary = ExtractiveSummary(text, 60);
  CHECK(summary.size() <= 60);
  CHECK(summary.find('\n') == std::string::npos);
  CHECK(summary.find("order") != std::string::npos);
}
