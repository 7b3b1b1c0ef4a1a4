// Prints the first n Fibonacci numbers and how their ratio approaches the golden ratio.
// Input: optional JSON on stdin, {"n": 10}.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <iterator>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace {

constexpr int kDefaultCount = 10;
// F(93) is the largest Fibonacci number that fits in 64 bits, so at most F(0)..F(93).
constexpr int kMaxCount = 94;

// Tells whether the input is empty or looks like a JSON object: only whitespace, or text from '{' to '}'.
bool isEmptyOrObject(const std::string& input) {
  const std::size_t first = input.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return true;
  }
  const std::size_t last = input.find_last_not_of(" \t\r\n");
  return input[first] == '{' && input[last] == '}';
}

// Reads the "n" key with a regular expression, not a full JSON parser.
// Returns the default when the key is missing and nothing when its value is invalid.
std::optional<int> parseCount(const std::string& input) {
  static const std::regex key(R"re("n"\s*:\s*([^,}\s]*))re");
  std::smatch match;
  if (!std::regex_search(input, match, key)) {
    return kDefaultCount;
  }
  static const std::regex integer(R"(\d{1,3})");
  const std::string value = match[1].str();
  if (!std::regex_match(value, integer)) {
    return std::nullopt;
  }
  const int count = std::stoi(value);
  if (count < 1 || count > kMaxCount) {
    return std::nullopt;
  }
  return count;
}

}  // namespace

int main() {
  const auto started = std::chrono::steady_clock::now();
  const std::string input{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};

  if (!isEmptyOrObject(input)) {
    std::cerr << "invalid input: expected a JSON object like {\"n\": 10}\n";
    return 2;
  }

  const std::optional<int> count = parseCount(input);
  if (!count) {
    std::cerr << "invalid input: \"n\" must be an integer from 1 to " << kMaxCount << '\n';
    return 2;
  }

  std::vector<std::uint64_t> numbers{0};
  if (*count > 1) {
    numbers.push_back(1);
  }
  while (static_cast<int>(numbers.size()) < *count) {
    numbers.push_back(numbers[numbers.size() - 1] + numbers[numbers.size() - 2]);
  }

  std::cout << "F(0).." << "F(" << *count - 1 << "):";
  for (const std::uint64_t number : numbers) {
    std::cout << ' ' << number;
  }
  std::cout << '\n';

  if (*count >= 4) {
    const double ratio = static_cast<double>(numbers.back()) / static_cast<double>(numbers[numbers.size() - 2]);
    const double golden = (1.0 + std::sqrt(5.0)) / 2.0;
    std::cout << "F(" << *count - 1 << ")/F(" << *count - 2 << ") = " << ratio << ", golden ratio = " << golden
              << '\n';
  } else {
    std::cout << "Ask for n >= 4 to compare the last two numbers with the golden ratio.\n";
  }

  const auto elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started);
  std::cerr << "computed " << *count << " Fibonacci numbers in " << elapsed.count() << " ms\n";
  return 0;
}
