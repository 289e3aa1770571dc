#include "storage/run_names.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

// adjective-animal-N with N in 0..1000 and no leading zeros.
const std::regex kNamePattern("^([a-z]+)-([a-z]+)-(0|[1-9][0-9]{0,2}|1000)$");

void expect_valid(const std::string& name) {
  EXPECT_LE(name.size(), 20u) << name;
  std::smatch m;
  ASSERT_TRUE(std::regex_match(name, m, kNamePattern)) << name;
  const int n = std::stoi(m[3].str());
  EXPECT_GE(n, 0) << name;
  EXPECT_LE(n, 1000) << name;
}

TEST(RunNames, HaveMlflowShape) {
  for (int i = 0; i < 5000; ++i) expect_valid(mlflow::detail::generate_run_name());
}

TEST(RunNames, DrawFromManyWords) {
  std::set<std::string> names, adjectives, animals;
  for (int i = 0; i < 5000; ++i) {
    const std::string name = mlflow::detail::generate_run_name();
    names.insert(name);
    std::smatch m;
    ASSERT_TRUE(std::regex_match(name, m, kNamePattern)) << name;
    adjectives.insert(m[1].str());
    animals.insert(m[2].str());
  }
  // With ~100 words each and 1001 numbers, 5000 draws hit far more than these floors.
  EXPECT_GT(names.size(), 4000u);
  EXPECT_GT(adjectives.size(), 80u);
  EXPECT_GT(animals.size(), 80u);
}

TEST(RunNames, SafeFromManyThreads) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::vector<std::vector<std::string>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&results, t] {
      for (int i = 0; i < kPerThread; ++i) results[t].push_back(mlflow::detail::generate_run_name());
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> distinct;
  for (const auto& names : results) {
    ASSERT_EQ(names.size(), static_cast<std::size_t>(kPerThread));
    for (const auto& name : names) {
      expect_valid(name);
      distinct.insert(name);
    }
  }
  // Threads must not replay one shared sequence.
  EXPECT_GT(distinct.size(), static_cast<std::size_t>(kThreads * kPerThread * 3 / 4));
}

}  // namespace
