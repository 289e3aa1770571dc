#include "mlflow/validation.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "mlflow/error.hpp"
#include "support/test_env.hpp"

namespace {

namespace v = mlflow::validation;
using mlflow::ErrorCode;
using mlflow::MlflowError;

using mlflow::test::ScopedEnv;

constexpr const char* kTruncate = "MLFLOW_TRUNCATE_LONG_VALUES";

template <typename F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::INVALID_PARAMETER_VALUE) << e.what();
    EXPECT_EQ(mlflow::http_status_for(e.error_code()), 400);
    return e.message();
  }
  ADD_FAILURE() << "expected MlflowError(INVALID_PARAMETER_VALUE)";
  return {};
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string repeat(const std::string& unit, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += unit;
  return out;
}

// ---- key characters -------------------------------------------------------------------------------------

TEST(Validation, AcceptsKeysOfAllowedCharacters) {
  for (const std::string& key :
       std::vector<std::string>{"m", "loss", "val_loss", "a/b/c", "a.b", "a-b", "a b", "key with space", "a:b",
                                "time:1", "A1_b-2.c d/e", ".a", "a..b", "a.", "0", "_"}) {
    EXPECT_NO_THROW(v::validate_metric_name(key)) << key;
    EXPECT_NO_THROW(v::validate_param_name(key)) << key;
    EXPECT_NO_THROW(v::validate_tag_name(key)) << key;
  }
}

TEST(Validation, AcceptsUnicodeLettersAndDigits) {
  // validation-cases: "unicode key" (uni_é) is accepted by the server, as is any Python \w character.
  for (const std::string& key : std::vector<std::string>{"uni_é", "ключ", "日本語", "straße", "x²", "٣", "Ⅷ"}) {
    EXPECT_NO_THROW(v::validate_metric_name(key)) << key;
  }
}

TEST(Validation, RejectsBadKeyCharacters) {
  // validation-cases: log-metric "bad key!" -> 400 naming the allowed characters.
  const std::string message = error_message([] { v::validate_metric_name("bad key!"); });
  EXPECT_TRUE(contains(message, "\"bad key!\"")) << message;
  EXPECT_TRUE(contains(message, "Metric name")) << message;
  EXPECT_TRUE(contains(message, "Names may only contain alphanumerics")) << message;
  EXPECT_TRUE(contains(message, "rename the key")) << message;
  for (const std::string& key :
       std::vector<std::string>{"a$", "a\\b", "a,b", "a@b", "a#b", "a\tb", "a\nb", "a=b", "a'b", "a\"b", "a(b)", "😀",
                                "a\u0301", "a\u00a0b", "a\u00b7b"}) {
    error_message([&] { v::validate_param_name(key); });
  }
}

TEST(Validation, NamesEntityKindInMessage) {
  EXPECT_TRUE(contains(error_message([] { v::validate_param_name("p!"); }), "Param name"));
  EXPECT_TRUE(contains(error_message([] { v::validate_tag_name("t!"); }), "Tag name"));
}

TEST(Validation, RejectsInvalidUtf8Keys) {
  for (const std::string& key :
       std::vector<std::string>{std::string("\xff"), std::string("a\xc3"), std::string("\xc0\xaf"),
                                std::string("\xed\xa0\x80"), std::string("ab\x80")}) {
    const std::string message = error_message([&] { v::validate_metric_name(key); });
    EXPECT_TRUE(contains(message, "not valid UTF-8")) << message;
  }
}

// ---- path normalisation ---------------------------------------------------------------------------------

TEST(Validation, RejectsKeysThatAreNotNormalisedPaths) {
  // validation-cases: "/lead", "trail/" and "a/../b" are rejected; the message shows where they resolve.
  EXPECT_TRUE(contains(error_message([] { v::validate_metric_name("/lead"); }), "'/lead'"));
  EXPECT_TRUE(contains(error_message([] { v::validate_metric_name("trail/"); }), "'trail'"));
  const std::string message = error_message([] { v::validate_metric_name("a/../b"); });
  EXPECT_TRUE(contains(message, "would resolve to 'b'")) << message;
  EXPECT_TRUE(contains(message, "\"a/../b\"")) << message;
  for (const std::string& key :
       std::vector<std::string>{"a//b", "./a", "a/./b", ".", "..", "..a", "...", "../a", "a/.", "//a", "///a"}) {
    error_message([&] { v::validate_tag_name(key); });
  }
}

TEST(Validation, RejectsEmptyKey) {
  EXPECT_TRUE(contains(error_message([] { v::validate_metric_name(""); }), "must be provided"));
}

TEST(Validation, AcceptsNestedNormalisedPaths) {
  EXPECT_NO_THROW(v::validate_metric_name("train/loss"));
  EXPECT_NO_THROW(v::validate_metric_name("a/b.c/d-e"));
}

// ---- key length -----------------------------------------------------------------------------------------

TEST(Validation, KeyLengthLimitIs250CodePoints) {
  EXPECT_NO_THROW(v::validate_metric_name(std::string(250, 'k')));
  // validation-cases: a 251-character key -> "had length 251, which exceeded length limit of 250".
  const std::string message = error_message([] { v::validate_metric_name(std::string(251, 'k')); });
  EXPECT_TRUE(contains(message, "had length 251, which exceeded length limit of 250")) << message;
  EXPECT_TRUE(contains(message, "Metric name")) << message;
  EXPECT_TRUE(contains(message, "kkkk")) << message;
  // Code points, not bytes: 250 two-byte letters are fine.
  EXPECT_NO_THROW(v::validate_param_name(repeat("é", 250)));
  error_message([] { v::validate_param_name(repeat("é", 251)); });
  error_message([] { v::validate_tag_name(std::string(251, 't')); });
}

TEST(Validation, HugeKeyIsShownAsPrefix) {
  const std::string message = error_message([] { v::validate_metric_name(std::string(100000, 'k')); });
  EXPECT_LT(message.size(), 1000u);
  EXPECT_TRUE(contains(message, "...")) << message;
}

// ---- metrics --------------------------------------------------------------------------------------------

TEST(Validation, MetricTimestampMustBeNonNegative) {
  // validation-cases: timestamp -1 -> 400 "Timestamp must be a nonnegative long".
  const std::string message = error_message([] { v::validate_metric({"neg", 2.0, -1, 0}); });
  EXPECT_TRUE(contains(message, "nonnegative")) << message;
  EXPECT_TRUE(contains(message, "'neg'")) << message;
  EXPECT_TRUE(contains(message, "-1")) << message;
  EXPECT_NO_THROW(v::validate_metric({"zero", 1.0, 0, 0}));
}

TEST(Validation, MetricStepMayBeNegative) { EXPECT_NO_THROW(v::validate_metric({"m", 1.0, 1, -5})); }

TEST(Validation, MetricNonFiniteValuesAreLegal) {
  EXPECT_NO_THROW(v::validate_metric({"nan", std::nan(""), 1, 0}));
  EXPECT_NO_THROW(v::validate_metric({"inf", std::numeric_limits<double>::infinity(), 1, 0}));
  EXPECT_NO_THROW(v::validate_metric({"ninf", -std::numeric_limits<double>::infinity(), 1, 0}));
}

TEST(Validation, MetricChecksKeyCharactersThenTimestampThenLength) {
  EXPECT_TRUE(contains(error_message([] { v::validate_metric({"bad key!", 1.0, -1, 0}); }), "Names may only"));
  // A too-long key with a bad timestamp reports the timestamp first, as MLflow does.
  EXPECT_TRUE(contains(error_message([] { v::validate_metric({std::string(251, 'k'), 1.0, -1, 0}); }), "nonnegative"));
  EXPECT_TRUE(contains(error_message([] {
                         v::validate_metric({std::string(251, 'k'), 1.0, 0, 0});
                       }),
                       "had length 251"));
  EXPECT_TRUE(contains(error_message([] { v::validate_metric({"a/../b", 1.0, 0, 0}); }), "resolve to 'b'"));
}

// ---- values ---------------------------------------------------------------------------------------------

TEST(Validation, ParamValueUpTo6000IsKept) {
  ScopedEnv env(kTruncate, nullptr);
  const std::string value(6000, 'p');
  EXPECT_EQ(v::validate_param_value("p", value), value);
  EXPECT_EQ(v::validate_param_value("p", ""), "");
}

TEST(Validation, LongParamValueIsTruncatedByDefault) {
  // validation-cases: log-param value of 6001 characters -> 200 (cut to 6000).
  ScopedEnv env(kTruncate, nullptr);
  EXPECT_EQ(v::validate_param_value("p", std::string(6001, 'p')), std::string(6000, 'p'));
  // Cut at code points, never inside a UTF-8 sequence.
  EXPECT_EQ(v::validate_param_value("p", repeat("é", 6005)), repeat("é", 6000));
}

TEST(Validation, LongTagValueIsTruncatedByDefault) {
  // validation-cases: set-tag value of 8001 characters -> 200 (cut to 8000).
  ScopedEnv env(kTruncate, nullptr);
  EXPECT_EQ(v::validate_tag_value("t", std::string(8000, 't')), std::string(8000, 't'));
  EXPECT_EQ(v::validate_tag_value("t", std::string(8001, 't')), std::string(8000, 't'));
}

TEST(Validation, TruncationFollowsEnvironment) {
  for (const char* on : {"true", "TRUE", "True", "1"}) {
    ScopedEnv env(kTruncate, on);
    EXPECT_EQ(v::validate_param_value("p", std::string(6001, 'p')).size(), 6000u) << on;
  }
  for (const char* off : {"false", "FALSE", "False", "0"}) {
    ScopedEnv env(kTruncate, off);
    const std::string message = error_message([] { v::validate_param_value("lr", std::string(6001, 'p')); });
    EXPECT_TRUE(contains(message, "'lr'")) << message;
    EXPECT_TRUE(contains(message, "6001")) << message;
    EXPECT_TRUE(contains(message, "6000")) << message;
    EXPECT_TRUE(contains(message, "MLFLOW_TRUNCATE_LONG_VALUES")) << message;
    const std::string tag_message = error_message([] { v::validate_tag_value("t", std::string(8001, 't')); });
    EXPECT_TRUE(contains(tag_message, "8000")) << tag_message;
    // Values within the limit pass regardless.
    EXPECT_EQ(v::validate_tag_value("t", "short"), "short");
  }
}

TEST(Validation, InvalidTruncateSettingIsAnError) {
  for (const char* bad : {"yes", "", "2", "on"}) {
    ScopedEnv env(kTruncate, bad);
    const std::string message = error_message([] { v::validate_param_value("p", std::string(6001, 'p')); });
    EXPECT_TRUE(contains(message, "MLFLOW_TRUNCATE_LONG_VALUES")) << message;
  }
}

// ---- experiment tags and names --------------------------------------------------------------------------

TEST(Validation, ExperimentTagValueOver5000IsAnErrorEvenWhenTruncating) {
  ScopedEnv env(kTruncate, "true");
  EXPECT_NO_THROW(v::validate_experiment_tag({"t", std::string(5000, 'x')}));
  // validation-cases: set-experiment-tag with 5001 characters -> 400 "had length 5001 ... limit of 5000".
  const std::string message = error_message([] { v::validate_experiment_tag({"t", std::string(5001, 'x')}); });
  EXPECT_TRUE(contains(message, "had length 5001, which exceeded length limit of 5000")) << message;
  EXPECT_TRUE(contains(message, "'t'")) << message;
}

TEST(Validation, ExperimentTagKeyFollowsKeyRules) {
  error_message([] { v::validate_experiment_tag({"bad key!", "v"}); });
  error_message([] { v::validate_experiment_tag({std::string(251, 'k'), "v"}); });
  error_message([] { v::validate_experiment_tag({"/abs", "v"}); });
  EXPECT_NO_THROW(v::validate_experiment_tag({"mlflow.note.content", ""}));
}

TEST(Validation, ExperimentName) {
  EXPECT_NO_THROW(v::validate_experiment_name("sigmoid"));
  EXPECT_NO_THROW(v::validate_experiment_name("any chars !@#$% are fine"));
  EXPECT_NO_THROW(v::validate_experiment_name(std::string(500, 'e')));
  EXPECT_NO_THROW(v::validate_experiment_name(repeat("é", 500)));
  EXPECT_TRUE(contains(error_message([] { v::validate_experiment_name(""); }), "non-empty"));
  // validation-cases: 501 characters -> "'name' exceeds the maximum length of 500 characters".
  const std::string message = error_message([] { v::validate_experiment_name(std::string(501, 'e')); });
  EXPECT_TRUE(contains(message, "'name' exceeds the maximum length of 500 characters")) << message;
}

// ---- ids ------------------------------------------------------------------------------------------------

TEST(Validation, RunIdPattern) {
  EXPECT_NO_THROW(v::validate_run_id("ff0b9aff66ce46d3afe1676e1cfbf90c"));
  EXPECT_NO_THROW(v::validate_run_id("a"));
  EXPECT_NO_THROW(v::validate_run_id("A_b-9"));
  EXPECT_NO_THROW(v::validate_run_id("aé"));
  EXPECT_NO_THROW(v::validate_run_id("a" + std::string(255, 'b')));
  // validation-cases: log-batch with run_id "bad id!" -> 400 naming run_id.
  const std::string message = error_message([] { v::validate_run_id("bad id!"); });
  EXPECT_TRUE(contains(message, "\"bad id!\"")) << message;
  EXPECT_TRUE(contains(message, "'run_id'")) << message;
  for (const std::string& bad :
       std::vector<std::string>{"", "-abc", "_abc", "éa", "a b", "a/b", "a.b", "a" + std::string(256, 'b')}) {
    error_message([&] { v::validate_run_id(bad); });
  }
}

TEST(Validation, ExperimentIdPattern) {
  EXPECT_NO_THROW(v::validate_experiment_id("0"));
  EXPECT_NO_THROW(v::validate_experiment_id("123"));
  EXPECT_NO_THROW(v::validate_experiment_id("a" + std::string(63, '1')));
  EXPECT_TRUE(contains(error_message([] { v::validate_experiment_id("1 2"); }), "'1 2'"));
  for (const std::string& bad : std::vector<std::string>{"", "-1", "a" + std::string(64, '1'), "1;DROP"}) {
    error_message([&] { v::validate_experiment_id(bad); });
  }
}

// ---- batches --------------------------------------------------------------------------------------------

TEST(Validation, BatchWithinLimits) {
  EXPECT_NO_THROW(v::validate_batch_limits(0, 0, 0));
  EXPECT_NO_THROW(v::validate_batch_limits(1000, 0, 0));
  EXPECT_NO_THROW(v::validate_batch_limits(0, 100, 100));
  EXPECT_NO_THROW(v::validate_batch_limits(800, 100, 100));
}

TEST(Validation, BatchLimitMessagesMatchServer) {
  // The three log-batch limit cases of validation-cases-2.17.2.txt.
  EXPECT_EQ(error_message([] { v::validate_batch_limits(0, 101, 0); }),
            "A batch logging request can contain at most 100 params. Got 101 params. Please split up params "
            "across multiple requests and try again.");
  EXPECT_EQ(error_message([] { v::validate_batch_limits(1001, 0, 0); }),
            "A batch logging request can contain at most 1000 metrics. Got 1001 metrics. Please split up metrics "
            "across multiple requests and try again.");
  EXPECT_EQ(error_message([] { v::validate_batch_limits(950, 0, 51); }),
            "A batch logging request can contain at most 1000 metrics, params, and tags. Got 1001 metrics, params, "
            "and tags. Please split up metrics, params, and tags across multiple requests and try again.");
  EXPECT_TRUE(contains(error_message([] { v::validate_batch_limits(0, 0, 101); }), "at most 100 tags"));
}

TEST(Validation, DuplicateParamKeysInBatch) {
  // validation-cases: duplicate param keys -> 400 naming ['dup'], even with equal values.
  const std::string message = error_message([] {
    v::validate_no_duplicate_param_keys({{"dup", "1"}, {"ok", "x"}, {"dup", "2"}});
  });
  EXPECT_TRUE(contains(message, "Duplicate parameter keys have been submitted: ['dup']")) << message;
  const std::string same = error_message([] { v::validate_no_duplicate_param_keys({{"dup2", "1"}, {"dup2", "1"}}); });
  EXPECT_TRUE(contains(same, "['dup2']")) << same;
  EXPECT_TRUE(contains(error_message([] {
                         v::validate_no_duplicate_param_keys({{"a", "1"}, {"b", "1"}, {"a", "1"}, {"b", "1"}});
                       }),
                       "['a', 'b']"));
  EXPECT_NO_THROW(v::validate_no_duplicate_param_keys({}));
  EXPECT_NO_THROW(v::validate_no_duplicate_param_keys({{"a", "1"}, {"A", "1"}, {"b", "1"}}));
}

// ---- UTF-8 helpers --------------------------------------------------------------------------------------

TEST(Validation, Utf8LengthCountsCodePoints) {
  EXPECT_EQ(v::utf8_length(""), 0u);
  EXPECT_EQ(v::utf8_length("abc"), 3u);
  EXPECT_EQ(v::utf8_length("é"), 1u);
  EXPECT_EQ(v::utf8_length("日本語"), 3u);
  EXPECT_EQ(v::utf8_length("😀"), 1u);
  EXPECT_EQ(v::utf8_length(std::string("a\xff\xfe")), 3u);  // invalid bytes count one each
  EXPECT_EQ(v::utf8_length(std::string("\xe6\x97")), 2u);   // truncated sequence: two stray bytes
}

TEST(Validation, Utf8TruncateKeepsWholeCodePoints) {
  EXPECT_EQ(v::utf8_truncate("日本語", 2), "日本");
  EXPECT_EQ(v::utf8_truncate("abc", 0), "");
  EXPECT_EQ(v::utf8_truncate("abc", 10), "abc");
  EXPECT_EQ(v::utf8_truncate("a😀b", 2), "a😀");
}

}  // namespace
