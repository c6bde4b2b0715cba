// A guard for JSON text from outside (event logs, imports, payloads) before it reaches
// nlohmann::json. nlohmann parses iteratively, but copying, comparing or dumping a value recurses
// once per nesting level, so a line of a million '[' parses fine and then overflows the stack
// wherever the value is copied. Checking the depth first costs one linear pass and no memory.
// Thread-safety: pure functions.
#pragma once

#include <string_view>

namespace ingestlab {

// Calls bracket(c) for each '{', '[', '}' and ']' of `text` outside strings (escapes are
// honoured), in order, until it returns false. Returns true if the text ends inside a string.
template <typename Fn>
inline bool ForEachJsonBracket(std::string_view text, Fn bracket) {
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{' || c == ']' || c == '}') {
      if (!bracket(c)) break;
    }
  }
  return in_string;
}

// True if objects and arrays in `text` nest deeper than `max_depth` levels. Brackets inside
// strings do not count (escapes are honoured); the text need not be valid JSON (a parser that
// runs next rejects what is malformed). Stops at the first level past the limit.
inline bool JsonNestedDeeperThan(std::string_view text, int max_depth) {
  int depth = 0;
  bool deeper = false;
  ForEachJsonBracket(text, [&](char c) {
    if (c == '[' || c == '{') {
      deeper = ++depth > max_depth;
    } else if (depth > 0) {
      --depth;
    }
    return !deeper;
  });
  return deeper;
}

}  // namespace ingestlab
