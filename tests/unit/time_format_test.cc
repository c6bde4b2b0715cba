// RFC 3339 parsing and formatting (system/time_format.h) checked against Howard Hinnant's date
// library, the reference implementation of the same calendar arithmetic, over years 0001-9999.
#include <catch2/catch.hpp>

#include <chrono>
#include <random>

#include <date/date.h>

#include "system/time_format.h"

using namespace ingestlab;

namespace {

using Ms = date::sys_time<std::chrono::milliseconds>;

std::string Reference(int64_t unix_ms) {
  return date::format("%FT%TZ", Ms(std::chrono::milliseconds(unix_ms)));
}

}  // namespace

TEST_CASE("formatting and parsing agree with the date library on every kind of day") {
  const int64_t first = DaysFromCivil(1, 1, 1) * 86'400'000;
  const int64_t last = DaysFromCivil(9999, 12, 31) * 86'400'000 + 86'399'999;
  std::mt19937_64 rng(20261203);
  std::uniform_int_distribution<int64_t> any(first, last);
  std::vector<int64_t> cases = {first, last, 0, -1, 951'782'400'000 /* 2000-02-29 */,
                                4'107'542'399'999 /* 2100-02-28T23:59:59.999 */};
  for (int i = 0; i < 100'000; ++i) cases.push_back(any(rng));
  for (int64_t ms : cases) {
    const std::string text = Reference(ms);
    INFO(ms << " " << text);
    REQUIRE(FormatRfc3339Ms(ms) == text);
    REQUIRE(ParseRfc3339Ms(text) == ms);
    REQUIRE(FormatRfc3339Seconds(ms) == text.substr(0, 19) + "Z");
  }
}

TEST_CASE("calendar days and date checks agree with the date library") {
  for (int y : {1, 4, 100, 400, 1900, 1970, 2000, 2023, 2024, 2100, 9999}) {
    for (unsigned m = 1; m <= 12; ++m) {
      for (unsigned d = 1; d <= 31; ++d) {
        const date::year_month_day ymd{date::year{y}, date::month{m}, date::day{d}};
        char text[16];
        std::snprintf(text, sizeof text, "%04d-%02u-%02u", y, m, d);
        INFO(text);
        REQUIRE(IsRfc3339Date(text) == ymd.ok());
        if (ymd.ok()) {
          REQUIRE(DaysFromCivil(y, m, d) == date::sys_days{ymd}.time_since_epoch().count());
        }
      }
    }
  }
}
