#include "storage/search.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "mlflow/error.hpp"

namespace {

namespace s = mlflow::search;
using mlflow::Experiment;
using mlflow::RunStatus;
using s::Comparison;
using s::EntityKind;

std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const mlflow::MlflowError& e) {
    EXPECT_EQ(e.error_code(), mlflow::ErrorCode::INVALID_PARAMETER_VALUE) << e.what();
    return e.message();
  }
  ADD_FAILURE() << "expected MlflowError(INVALID_PARAMETER_VALUE)";
  return {};
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

const std::string& str(const Comparison& c) { return std::get<std::string>(c.value); }
double num(const Comparison& c) { return std::get<double>(c.value); }

struct RunSpec {
  std::string id{};
  std::int64_t start_time = 0;
  std::vector<mlflow::Metric> metrics{};
  std::vector<mlflow::Param> params{};
  std::vector<mlflow::RunTag> tags{};
  RunStatus status = RunStatus::RUNNING;
  std::optional<std::int64_t> end_time{};
  std::string run_name{};
  std::string user_id{};
};

mlflow::Run make_run(RunSpec spec) {
  mlflow::Run run;
  run.info.run_id = spec.id;
  run.info.start_time = spec.start_time;
  run.info.status = spec.status;
  run.info.end_time = spec.end_time;
  run.info.run_name = spec.run_name;
  run.info.user_id = spec.user_id;
  run.info.experiment_id = "1";
  run.info.artifact_uri = "mlflow-artifacts:/1/" + spec.id + "/artifacts";
  run.data.metrics = std::move(spec.metrics);
  run.data.params = std::move(spec.params);
  run.data.tags = std::move(spec.tags);
  return run;
}

bool run_matches(const mlflow::Run& run, const std::string& filter) {
  return s::matches(run, s::parse_run_filter(filter));
}

std::vector<std::string> ids(const std::vector<mlflow::Run>& runs) {
  std::vector<std::string> out;
  for (const mlflow::Run& r : runs) out.push_back(r.info.run_id);
  return out;
}

std::vector<std::string> ids(const std::vector<Experiment>& experiments) {
  std::vector<std::string> out;
  for (const Experiment& e : experiments) out.push_back(e.experiment_id);
  return out;
}

// ---- parsing run filters --------------------------------------------------------------------------------

TEST(Search, EmptyFilterHasNoClauses) {
  EXPECT_TRUE(s::parse_run_filter("").empty());
  EXPECT_TRUE(s::parse_run_filter("   \t\n").empty());
  EXPECT_TRUE(s::parse_experiment_filter("").empty());
}

TEST(Search, ParsesFullExample) {
  const auto f = s::parse_run_filter(
      "metrics.x > 0.5 AND params.lr = '0.01' AND tags.\"a b\" != 'x' AND attributes.status = 'FINISHED' AND "
      "run_name LIKE 'abc%'");
  ASSERT_EQ(f.size(), 5u);
  EXPECT_EQ(f[0].kind, EntityKind::metric);
  EXPECT_EQ(f[0].key, "x");
  EXPECT_EQ(f[0].op, ">");
  EXPECT_DOUBLE_EQ(num(f[0]), 0.5);
  EXPECT_EQ(f[1].kind, EntityKind::param);
  EXPECT_EQ(f[1].key, "lr");
  EXPECT_EQ(f[1].op, "=");
  EXPECT_EQ(str(f[1]), "0.01");
  EXPECT_EQ(f[2].kind, EntityKind::tag);
  EXPECT_EQ(f[2].key, "a b");
  EXPECT_EQ(f[2].op, "!=");
  EXPECT_EQ(str(f[2]), "x");
  EXPECT_EQ(f[3].kind, EntityKind::attribute);
  EXPECT_EQ(f[3].key, "status");
  EXPECT_EQ(str(f[3]), "FINISHED");
  EXPECT_EQ(f[4].kind, EntityKind::attribute);
  EXPECT_EQ(f[4].key, "run_name");
  EXPECT_EQ(f[4].op, "LIKE");
  EXPECT_EQ(str(f[4]), "abc%");
}

TEST(Search, ParsesWalkthroughFilter) {
  // rest-walkthrough: lower-case "and" is accepted.
  const auto f = s::parse_run_filter("metrics.acc > 0.5 and params.lr = '0.01'");
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].key, "acc");
  EXPECT_EQ(f[1].key, "lr");
}

TEST(Search, EntityAliases) {
  EXPECT_EQ(s::parse_run_filter("metric.m > 1")[0].kind, EntityKind::metric);
  EXPECT_EQ(s::parse_run_filter("param.p = 'v'")[0].kind, EntityKind::param);
  EXPECT_EQ(s::parse_run_filter("parameter.p = 'v'")[0].kind, EntityKind::param);
  EXPECT_EQ(s::parse_run_filter("parameters.p = 'v'")[0].kind, EntityKind::param);
  EXPECT_EQ(s::parse_run_filter("tag.t = 'v'")[0].kind, EntityKind::tag);
  EXPECT_EQ(s::parse_run_filter("attr.status = 'RUNNING'")[0].kind, EntityKind::attribute);
  EXPECT_EQ(s::parse_run_filter("run.status = 'RUNNING'")[0].kind, EntityKind::attribute);
  EXPECT_EQ(s::parse_run_filter("`metrics`.m > 1")[0].kind, EntityKind::metric);
}

TEST(Search, QuotedAndDottedKeys) {
  EXPECT_EQ(s::parse_run_filter("metrics.`my metric` < 2")[0].key, "my metric");
  EXPECT_EQ(s::parse_run_filter("metrics.\"a-b/c\" < 2")[0].key, "a-b/c");
  EXPECT_EQ(s::parse_run_filter("tags.mlflow.runName = 'r'")[0].key, "mlflow.runName");
  EXPECT_EQ(s::parse_run_filter("tags.`mlflow.runName` = 'r'")[0].key, "mlflow.runName");
  EXPECT_EQ(s::parse_run_filter("params.`lr` = '1'")[0].key, "lr");
}

TEST(Search, AttributeAliasesAreCanonical) {
  EXPECT_EQ(s::parse_run_filter("created > 5")[0].key, "start_time");
  EXPECT_EQ(s::parse_run_filter("attributes.Created > 5")[0].key, "start_time");
  EXPECT_EQ(s::parse_run_filter("`Run name` = 'x'")[0].key, "run_name");
  EXPECT_EQ(s::parse_run_filter("attributes.\"run name\" = 'x'")[0].key, "run_name");
}

TEST(Search, StringValuesInEitherQuotes) {
  EXPECT_EQ(str(s::parse_run_filter("params.p = \"v 1\"")[0]), "v 1");
  EXPECT_EQ(str(s::parse_run_filter("params.p = 'with \"double\" inside'")[0]), "with \"double\" inside");
  EXPECT_EQ(str(s::parse_run_filter("params.p = ''")[0]), "");
  // As MLflow: the text between the quotes is kept as written.
  EXPECT_EQ(str(s::parse_run_filter("params.p = 'it''s'")[0]), "it''s");
}

TEST(Search, NumericValues) {
  EXPECT_DOUBLE_EQ(num(s::parse_run_filter("metrics.m > -1")[0]), -1.0);
  EXPECT_DOUBLE_EQ(num(s::parse_run_filter("metrics.m > 1e-3")[0]), 0.001);
  EXPECT_DOUBLE_EQ(num(s::parse_run_filter("metrics.m > .5")[0]), 0.5);
  EXPECT_DOUBLE_EQ(num(s::parse_run_filter("metrics.m>=2.25")[0]), 2.25);
  EXPECT_DOUBLE_EQ(num(s::parse_run_filter("attributes.start_time >= 1700000000000")[0]), 1700000000000.0);
  EXPECT_DOUBLE_EQ(num(s::parse_run_filter("end_time < 5")[0]), 5.0);
}

TEST(Search, OperatorsAreCaseInsensitiveAndUpperCased) {
  EXPECT_EQ(s::parse_run_filter("params.p like 'a%'")[0].op, "LIKE");
  EXPECT_EQ(s::parse_run_filter("tags.t iLike 'a%'")[0].op, "ILIKE");
  EXPECT_EQ(s::parse_run_filter("run_id in ('a')")[0].op, "IN");
  EXPECT_EQ(s::parse_run_filter("run_id not  in ('a')")[0].op, "NOT IN");
}

TEST(Search, RunIdInList) {
  const auto f = s::parse_run_filter("attributes.run_id IN ('abc', 'def') AND run_id NOT IN ('x')");
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(std::get<std::vector<std::string>>(f[0].value), (std::vector<std::string>{"abc", "def"}));
  EXPECT_EQ(std::get<std::vector<std::string>>(f[1].value), (std::vector<std::string>{"x"}));
}

TEST(Search, FilterParseErrors) {
  struct Case {
    std::string filter;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {"metrics.a > 1 OR metrics.b > 1", "OR is not supported"},
      {"metrics.a > 1 AND", "ends with AND"},
      {"metrics.a > 1 metrics.b > 2", "expected AND"},
      {"metrics.a >", "Missing value"},
      {"metrics.a", "comparison operator"},
      {"metrics.a-b > 1", "backticks"},
      {"metric.a == 1", "Invalid comparator '=='"},
      {"metric.a <> 1", "Invalid comparator '<>'"},
      {"metrics.a LIKE '1'", "Invalid comparator 'LIKE'"},
      {"metrics.a = 'x'", "Expected a numeric value"},
      {"metrics.a = abc", "Expected a numeric value"},
      {"params.p > '1'", "Invalid comparator '>'"},
      {"params.p = 1", "Expected a quoted string value"},
      {"params.p = abc", "Expected a quoted string value"},
      {"tags.t IN ('a')", "Invalid comparator 'IN'"},
      {"params.p = 'unterminated", "Unterminated"},
      {"tags.`unterminated = 'x'", "Unterminated"},
      {"foo.x = 'a'", "Invalid entity type 'foo'"},
      {"\"metrics\".x > 1", "Invalid entity type"},
      {"attributes.bogus = 'a'", "Invalid attribute key 'bogus'"},
      {"lifecycle_stage = 'active'", "Invalid attribute key"},
      {"experiment_id = '1'", "Invalid attribute key"},
      {"status IN ('RUNNING')", "Only the 'run_id' attribute"},
      {"run_id IN ()", "Empty list"},
      {"run_id IN (\"a\")", "Ill-formed list"},
      {"run_id IN ('a' 'b')", "Ill-formed list"},
      {"run_id IN 'a'", "parenthesised list"},
      {"run_id = ('a')", "only be compared with IN"},
      {"start_time = '5'", "Expected a numeric value"},
      {"start_time LIKE '5'", "Invalid comparator 'LIKE'"},
      {"status = 3", "Expected a quoted string value"},
      {"status > 'A'", "Invalid comparator '>'"},
      {"(metrics.a > 1)", "parentheses"},
      {"metrics. > 1", "Missing key"},
      {"metrics.a NOT LIKE 'x'", "NOT LIKE"},
      {"datasets.name = 'x'", "datasets is not supported"},
      {"= 1", "Expected an identifier"},
  };
  for (const Case& c : cases) {
    const std::string message = error_message([&] { s::parse_run_filter(c.filter); });
    EXPECT_TRUE(contains(message, c.needle)) << "filter: " << c.filter << "\nmessage: " << message;
  }
}

// ---- matching runs --------------------------------------------------------------------------------------

TEST(Search, MetricComparisonsUseLatestValue) {
  const mlflow::Run run = make_run({.id = "r", .metrics = {{"acc", 0.75, 1, 3}}});
  EXPECT_TRUE(run_matches(run, "metrics.acc > 0.5"));
  EXPECT_TRUE(run_matches(run, "metrics.acc >= 0.75"));
  EXPECT_TRUE(run_matches(run, "metrics.acc = 0.75"));
  EXPECT_TRUE(run_matches(run, "metrics.acc <= 0.75"));
  EXPECT_TRUE(run_matches(run, "metrics.acc != 1"));
  EXPECT_FALSE(run_matches(run, "metrics.acc < 0.75"));
  EXPECT_FALSE(run_matches(run, "metrics.acc > 0.75"));
  EXPECT_FALSE(run_matches(run, "metrics.acc != 0.75"));
}

TEST(Search, MissingKeyNeverMatches) {
  const mlflow::Run run = make_run({.id = "r", .metrics = {{"acc", 0.75, 1, 3}}, .params = {{"lr", "1"}}});
  EXPECT_FALSE(run_matches(run, "metrics.loss != 1"));
  EXPECT_FALSE(run_matches(run, "params.other != 'x'"));
  EXPECT_FALSE(run_matches(run, "tags.t != 'x'"));
  EXPECT_FALSE(run_matches(run, "end_time > 0"));
  EXPECT_FALSE(run_matches(run, "end_time != 0"));
}

TEST(Search, NonFiniteMetricsCompareAsStored) {
  // The SQL store keeps NaN as 0 (with is_nan) and +/-Inf as +/-DBL_MAX in latest_metrics.value.
  const mlflow::Run run = make_run({.id = "r",
                                    .metrics = {{"nan", std::nan(""), 1, 0},
                                                {"inf", std::numeric_limits<double>::infinity(), 1, 0},
                                                {"ninf", -std::numeric_limits<double>::infinity(), 1, 0}}});
  EXPECT_TRUE(run_matches(run, "metrics.nan = 0"));
  EXPECT_FALSE(run_matches(run, "metrics.nan > 0"));
  EXPECT_TRUE(run_matches(run, "metrics.inf = 1.7976931348623157e308"));
  EXPECT_TRUE(run_matches(run, "metrics.inf > 1e300"));
  EXPECT_TRUE(run_matches(run, "metrics.ninf < -1e300"));
}

TEST(Search, ParamsAndTagsCompareAsStrings) {
  const mlflow::Run run = make_run({.id = "r", .params = {{"lr", "0.01"}, {"n", "10"}}, .tags = {{"a b", "x"}}});
  EXPECT_TRUE(run_matches(run, "params.lr = '0.01'"));
  EXPECT_FALSE(run_matches(run, "params.lr = '0.010'"));  // strings, not numbers
  EXPECT_FALSE(run_matches(run, "params.lr = '0.01 '"));
  EXPECT_TRUE(run_matches(run, "params.n != '9'"));
  EXPECT_TRUE(run_matches(run, "tags.`a b` = 'x'"));
  EXPECT_FALSE(run_matches(run, "tags.\"a b\" != 'x'"));
  EXPECT_FALSE(run_matches(run, "params.lr = '0.01' AND params.n = '11'"));
  EXPECT_TRUE(run_matches(run, "params.lr = '0.01' AND params.n = '10'"));
}

TEST(Search, EqualityIsCaseSensitive) {
  const mlflow::Run run = make_run({.id = "r", .params = {{"opt", "Adam"}}});
  EXPECT_TRUE(run_matches(run, "params.opt = 'Adam'"));
  EXPECT_FALSE(run_matches(run, "params.opt = 'adam'"));
  EXPECT_TRUE(run_matches(run, "params.opt != 'adam'"));
}

TEST(Search, LikeWildcards) {
  const mlflow::Run run = make_run({.id = "r", .params = {{"name", "abc_def"}}});
  EXPECT_TRUE(run_matches(run, "params.name LIKE 'abc%'"));
  EXPECT_TRUE(run_matches(run, "params.name LIKE '%def'"));
  EXPECT_TRUE(run_matches(run, "params.name LIKE '%c_d%'"));
  EXPECT_TRUE(run_matches(run, "params.name LIKE 'a_c_def'"));
  EXPECT_TRUE(run_matches(run, "params.name LIKE '%'"));
  EXPECT_TRUE(run_matches(run, "params.name LIKE 'abc_def'"));
  EXPECT_FALSE(run_matches(run, "params.name LIKE 'abc'"));
  EXPECT_FALSE(run_matches(run, "params.name LIKE 'bc%'"));
  EXPECT_FALSE(run_matches(run, "params.name LIKE 'abc_def_'"));
  EXPECT_FALSE(run_matches(run, "params.name LIKE '_'"));
}

TEST(Search, LikeIsCaseSensitiveIlikeFoldsAscii) {
  // MLflow runs SQLite with PRAGMA case_sensitive_like = true; ILIKE is lower(x) LIKE lower(y), and SQLite's
  // lower() folds ASCII letters only.
  const mlflow::Run run = make_run({.id = "r", .params = {{"opt", "AdamW"}, {"city", "Élan"}}});
  EXPECT_TRUE(run_matches(run, "params.opt LIKE 'Adam%'"));
  EXPECT_FALSE(run_matches(run, "params.opt LIKE 'adam%'"));
  EXPECT_TRUE(run_matches(run, "params.opt ILIKE 'adam%'"));
  EXPECT_TRUE(run_matches(run, "params.opt ILIKE 'ADAMW'"));
  EXPECT_TRUE(run_matches(run, "params.city LIKE 'Él%'"));
  EXPECT_FALSE(run_matches(run, "params.city ILIKE 'éL%'"));
  EXPECT_TRUE(run_matches(run, "params.city ILIKE 'ÉL%'"));
  // '_' is one character, also when it is several bytes.
  EXPECT_TRUE(run_matches(run, "params.city LIKE '_lan'"));
}

TEST(Search, StringAttributes) {
  const mlflow::Run run = make_run({.id = "ff0b9aff66ce46d3afe1676e1cfbf90c",
                                    .tags = {{"mlflow.runName", "renamed"}},
                                    .status = RunStatus::FINISHED,
                                    .run_name = "renamed",
                                    .user_id = "alice"});
  EXPECT_TRUE(run_matches(run, "attributes.status = 'FINISHED'"));
  EXPECT_FALSE(run_matches(run, "status = 'RUNNING'"));
  EXPECT_TRUE(run_matches(run, "status != 'RUNNING'"));
  EXPECT_TRUE(run_matches(run, "run_name = 'renamed'"));
  EXPECT_TRUE(run_matches(run, "attributes.run_name LIKE 'ren%'"));
  EXPECT_TRUE(run_matches(run, "user_id = 'alice'"));
  EXPECT_TRUE(run_matches(run, "artifact_uri LIKE '%/artifacts'"));
  EXPECT_TRUE(run_matches(run, "run_id = 'ff0b9aff66ce46d3afe1676e1cfbf90c'"));
  EXPECT_TRUE(run_matches(run, "run_id IN ('x', 'ff0b9aff66ce46d3afe1676e1cfbf90c')"));
  EXPECT_FALSE(run_matches(run, "run_id NOT IN ('x', 'ff0b9aff66ce46d3afe1676e1cfbf90c')"));
  EXPECT_TRUE(run_matches(run, "run_id NOT IN ('x')"));
}

TEST(Search, RunNameFollowsTheRunNameTag) {
  const mlflow::Run tagged = make_run({.id = "r", .tags = {{"mlflow.runName", "from-tag"}}, .run_name = "column"});
  EXPECT_TRUE(run_matches(tagged, "run_name = 'from-tag'"));
  EXPECT_FALSE(run_matches(tagged, "run_name = 'column'"));
  const mlflow::Run untagged = make_run({.id = "r", .run_name = "column"});
  EXPECT_TRUE(run_matches(untagged, "run_name = 'column'"));
}

TEST(Search, NumericAttributes) {
  const mlflow::Run run = make_run({.id = "r", .start_time = 1700000000000, .end_time = 1700000009999});
  EXPECT_TRUE(run_matches(run, "start_time = 1700000000000"));
  EXPECT_TRUE(run_matches(run, "attributes.start_time > 1699999999999"));
  EXPECT_FALSE(run_matches(run, "start_time < 1700000000000"));
  EXPECT_TRUE(run_matches(run, "created >= 1700000000000"));
  EXPECT_TRUE(run_matches(run, "end_time = 1700000009999"));
  EXPECT_TRUE(run_matches(run, "end_time != 1"));
}

TEST(Search, ExperimentFilters) {
  const auto f = s::parse_experiment_filter(
      "name LIKE 'sig%' AND tags.team = 'ml' AND attribute.creation_time > 5 AND last_update_time <= 100");
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].kind, EntityKind::attribute);
  EXPECT_EQ(f[0].key, "name");
  EXPECT_EQ(f[1].kind, EntityKind::tag);
  EXPECT_EQ(f[1].key, "team");
  EXPECT_EQ(f[2].key, "creation_time");
  EXPECT_EQ(f[3].key, "last_update_time");

  Experiment e;
  e.experiment_id = "1";
  e.name = "sigmoid";
  e.creation_time = 10;
  e.last_update_time = 100;
  e.tags = {{"team", "ml"}};
  EXPECT_TRUE(s::matches(e, f));
  EXPECT_TRUE(s::matches(e, s::parse_experiment_filter("name = 'sigmoid'")));
  EXPECT_FALSE(s::matches(e, s::parse_experiment_filter("name = 'Sigmoid'")));
  EXPECT_TRUE(s::matches(e, s::parse_experiment_filter("name ILIKE 'SIG%'")));
  EXPECT_FALSE(s::matches(e, s::parse_experiment_filter("name LIKE 'SIG%'")));
  EXPECT_TRUE(s::matches(e, s::parse_experiment_filter("name != 'tanh'")));
  EXPECT_FALSE(s::matches(e, s::parse_experiment_filter("tags.other = 'ml'")));
  EXPECT_FALSE(s::matches(e, s::parse_experiment_filter("tags.team != 'ml'")));
  EXPECT_FALSE(s::matches(e, s::parse_experiment_filter("creation_time > 10")));
}

TEST(Search, ExperimentFilterErrors) {
  struct Case {
    std::string filter;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {"attributes.name = 'x'", "Invalid entity type 'attributes'"},
      {"metrics.m > 1", "Invalid entity type 'metrics'"},
      {"status = 'x'", "Invalid attribute key 'status'"},
      {"name IN ('a')", "Invalid comparator 'IN'"},
      {"name > 'a'", "Invalid comparator '>'"},
      {"name = 1", "Expected a quoted string value"},
      {"creation_time = 'x'", "Expected a numeric value"},
      {"creation_time LIKE '1'", "Invalid comparator 'LIKE'"},
      {"tags.t > 'a'", "Invalid comparator '>'"},
  };
  for (const Case& c : cases) {
    const std::string message = error_message([&] { s::parse_experiment_filter(c.filter); });
    EXPECT_TRUE(contains(message, c.needle)) << "filter: " << c.filter << "\nmessage: " << message;
  }
}

// ---- order_by -------------------------------------------------------------------------------------------

TEST(Search, ParsesOrderBy) {
  const auto ob = s::parse_order_by({"metrics.loss DESC", "params.`a b` asc", "start_time", "tags.\"t\" Desc"});
  ASSERT_EQ(ob.size(), 4u);
  EXPECT_EQ(ob[0].kind, EntityKind::metric);
  EXPECT_EQ(ob[0].key, "loss");
  EXPECT_FALSE(ob[0].ascending);
  EXPECT_EQ(ob[1].kind, EntityKind::param);
  EXPECT_EQ(ob[1].key, "a b");
  EXPECT_TRUE(ob[1].ascending);
  EXPECT_EQ(ob[2].kind, EntityKind::attribute);
  EXPECT_EQ(ob[2].key, "start_time");
  EXPECT_TRUE(ob[2].ascending);
  EXPECT_EQ(ob[3].kind, EntityKind::tag);
  EXPECT_FALSE(ob[3].ascending);
  EXPECT_EQ(s::parse_order_by({"attributes.start_time DESC"})[0].key, "start_time");
  EXPECT_EQ(s::parse_order_by({"created"})[0].key, "start_time");
}

TEST(Search, OrderByErrors) {
  struct Case {
    std::vector<std::string> order_by;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {{"metrics.loss DOWN"}, "only ASC or DESC"},
      {{"metrics.loss DESC extra"}, "expected '<key> [ASC|DESC]'"},
      {{""}, "give a key"},
      {{"attributes.bogus"}, "Invalid order_by attribute key 'bogus'"},
      {{"metrics.a", "metrics.a DESC"}, "twice"},
      {{"created", "start_time"}, "twice"},
      {{"foo.x"}, "Invalid entity type 'foo'"},
      {{"metrics.my metric"}, "only ASC or DESC"},
  };
  for (const Case& c : cases) {
    const std::string message = error_message([&] { s::parse_order_by(c.order_by); });
    EXPECT_TRUE(contains(message, c.needle)) << c.order_by[0] << "\nmessage: " << message;
  }
}

TEST(Search, DefaultRunOrderIsStartTimeDescThenRunId) {
  std::vector<mlflow::Run> runs = {make_run({.id = "b", .start_time = 10}), make_run({.id = "c", .start_time = 30}),
                                   make_run({.id = "a", .start_time = 10}), make_run({.id = "d", .start_time = 20})};
  s::sort_runs(runs, {});
  EXPECT_EQ(ids(runs), (std::vector<std::string>{"c", "d", "a", "b"}));
}

TEST(Search, MetricOrderPutsNanThenMissingLast) {
  const double nan = std::nan("");
  std::vector<mlflow::Run> runs = {
      make_run({.id = "missing", .start_time = 5}),
      make_run({.id = "high", .start_time = 1, .metrics = {{"loss", 0.9, 0, 0}}}),
      make_run({.id = "nan", .start_time = 1, .metrics = {{"loss", nan, 0, 0}}}),
      make_run({.id = "low", .start_time = 1, .metrics = {{"loss", 0.1, 0, 0}}}),
      make_run({.id = "neg", .start_time = 1, .metrics = {{"loss", -3.0, 0, 0}}}),
  };
  s::sort_runs(runs, s::parse_order_by({"metrics.loss ASC"}));
  EXPECT_EQ(ids(runs), (std::vector<std::string>{"neg", "low", "high", "nan", "missing"}));
  s::sort_runs(runs, s::parse_order_by({"metrics.loss DESC"}));
  EXPECT_EQ(ids(runs), (std::vector<std::string>{"high", "low", "neg", "nan", "missing"}));
}

TEST(Search, OrderTiesFallBackToStartTimeAndRunId) {
  std::vector<mlflow::Run> runs = {
      make_run({.id = "x", .start_time = 1, .params = {{"p", "same"}}}),
      make_run({.id = "y", .start_time = 2, .params = {{"p", "same"}}}),
      make_run({.id = "a", .start_time = 1, .params = {{"p", "same"}}}),
  };
  s::sort_runs(runs, s::parse_order_by({"params.p"}));
  EXPECT_EQ(ids(runs), (std::vector<std::string>{"y", "a", "x"}));
}

TEST(Search, ParamOrderIsStringOrder) {
  std::vector<mlflow::Run> runs = {
      make_run({.id = "nine", .params = {{"n", "9"}}}),
      make_run({.id = "ten", .params = {{"n", "10"}}}),
      make_run({.id = "none"}),
      make_run({.id = "upper", .params = {{"n", "Z"}}}),
      make_run({.id = "lower", .params = {{"n", "a"}}}),
  };
  s::sort_runs(runs, s::parse_order_by({"params.n"}));
  EXPECT_EQ(ids(runs), (std::vector<std::string>{"ten", "nine", "upper", "lower", "none"}));
  s::sort_runs(runs, s::parse_order_by({"params.n DESC"}));
  EXPECT_EQ(ids(runs), (std::vector<std::string>{"lower", "upper", "nine", "ten", "none"}));
}

TEST(Search, ExplicitStartTimeReplacesDefault) {
  std::vector<mlflow::Run> runs = {make_run({.id = "b", .start_time = 20}), make_run({.id = "a", .start_time = 10}),
                                   make_run({.id = "c", .start_time = 10})};
  s::sort_runs(runs, s::parse_order_by({"start_time ASC"}));
  EXPECT_EQ(ids(runs), (std::vector<std::string>{"a", "c", "b"}));
}

TEST(Search, EndTimeOrderPutsUnfinishedLast) {
  std::vector<mlflow::Run> runs = {make_run({.id = "open", .start_time = 9}),
                                   make_run({.id = "late", .start_time = 1, .end_time = 50}),
                                   make_run({.id = "early", .start_time = 1, .end_time = 5})};
  s::sort_runs(runs, s::parse_order_by({"end_time DESC"}));
  EXPECT_EQ(ids(runs), (std::vector<std::string>{"late", "early", "open"}));
  s::sort_runs(runs, s::parse_order_by({"end_time"}));
  EXPECT_EQ(ids(runs), (std::vector<std::string>{"early", "late", "open"}));
}

TEST(Search, MultiKeyOrder) {
  std::vector<mlflow::Run> runs = {
      make_run({.id = "1", .metrics = {{"acc", 0.5, 0, 0}}, .status = RunStatus::FINISHED}),
      make_run({.id = "2", .metrics = {{"acc", 0.9, 0, 0}}, .status = RunStatus::FAILED}),
      make_run({.id = "3", .metrics = {{"acc", 0.7, 0, 0}}, .status = RunStatus::FINISHED}),
  };
  s::sort_runs(runs, s::parse_order_by({"status DESC", "metrics.acc DESC"}));
  EXPECT_EQ(ids(runs), (std::vector<std::string>{"3", "1", "2"}));
}

TEST(Search, SortRunsRejectsExperimentKeys) {
  std::vector<mlflow::Run> runs = {make_run({.id = "a"})};
  const auto ob = s::parse_order_by({"name"});                                 // accepted by the shared parser...
  const std::string message = error_message([&] { s::sort_runs(runs, ob); });  // ...but not for runs
  EXPECT_TRUE(contains(message, "'name'")) << message;
}

Experiment make_experiment(std::string id, std::string name, std::int64_t created, std::int64_t updated = 0) {
  Experiment e;
  e.experiment_id = std::move(id);
  e.name = std::move(name);
  e.creation_time = created;
  e.last_update_time = updated;
  return e;
}

TEST(Search, DefaultExperimentOrderIsCreationDescThenIdAsc) {
  // validation-cases: experiments/search lists "1" (newer) before "0".
  std::vector<Experiment> exps = {make_experiment("0", "Default", 1796397148790),
                                  make_experiment("1", "e", 1796397148793)};
  s::sort_experiments(exps, {});
  EXPECT_EQ(ids(exps), (std::vector<std::string>{"1", "0"}));

  std::vector<Experiment> ties = {make_experiment("10", "j", 5), make_experiment("2", "b", 5),
                                  make_experiment("3", "c", 7)};
  s::sort_experiments(ties, {});
  EXPECT_EQ(ids(ties), (std::vector<std::string>{"3", "2", "10"}));  // ids compare as integers
}

TEST(Search, ExplicitExperimentOrderBreaksTiesByIdDesc) {
  std::vector<Experiment> exps = {make_experiment("1", "same", 1), make_experiment("3", "same", 1),
                                  make_experiment("2", "alpha", 1)};
  s::sort_experiments(exps, s::parse_experiment_order_by({"name"}));
  EXPECT_EQ(ids(exps), (std::vector<std::string>{"2", "3", "1"}));
  s::sort_experiments(exps, s::parse_order_by({"experiment_id ASC"}));
  EXPECT_EQ(ids(exps), (std::vector<std::string>{"1", "2", "3"}));
  s::sort_experiments(exps, s::parse_experiment_order_by({"last_update_time DESC", "name DESC"}));
  EXPECT_EQ(ids(exps), (std::vector<std::string>{"3", "1", "2"}));
}

TEST(Search, ExperimentOrderByErrors) {
  EXPECT_TRUE(contains(error_message([] { s::parse_experiment_order_by({"tags.t"}); }), "Invalid order_by entity"));
  EXPECT_TRUE(contains(error_message([] { s::parse_experiment_order_by({"start_time"}); }), "'start_time'"));
  std::vector<Experiment> exps = {make_experiment("1", "a", 1)};
  const auto run_order = s::parse_order_by({"metrics.m"});
  EXPECT_TRUE(contains(error_message([&] { s::sort_experiments(exps, run_order); }), "metric.m"));
}

// ---- page tokens ----------------------------------------------------------------------------------------

TEST(Search, PageTokensAreMlflowBytes) {
  EXPECT_EQ(s::encode_page_token(0), "eyJvZmZzZXQiOiAwfQ==");
  EXPECT_EQ(s::encode_page_token(1), "eyJvZmZzZXQiOiAxfQ==");  // validation-cases
  EXPECT_EQ(s::encode_page_token(2), "eyJvZmZzZXQiOiAyfQ==");  // validation-cases 3.3
  EXPECT_EQ(s::decode_page_token("eyJvZmZzZXQiOiAwfQ=="), 0);
  EXPECT_EQ(s::decode_page_token("eyJvZmZzZXQiOiAxfQ=="), 1);
}

TEST(Search, PageTokenRoundTrip) {
  for (std::int64_t offset : {0LL, 1LL, 9LL, 10LL, 99LL, 1000LL, 25000LL, 123456789LL, 9007199254740993LL}) {
    EXPECT_EQ(s::decode_page_token(s::encode_page_token(offset)), offset) << offset;
  }
}

TEST(Search, PageTokenAcceptsStringOffset) {
  // base64 of {"offset": "7"}: Python's int() takes it, so do we.
  EXPECT_EQ(s::decode_page_token("eyJvZmZzZXQiOiAiNyJ9"), 7);
}

TEST(Search, InvalidPageTokens) {
  const std::vector<std::string> bad = {
      "abc",                   // not a multiple of 4
      "!!!!",                  // not base64
      "bm90IGpzb24=",          // "not json"
      "eyJ4IjogMX0=",          // {"x": 1}
      "eyJvZmZzZXQiOiAtMX0=",  // {"offset": -1}
      "eyJvZmZzZXQiOiAxLjV9",  // {"offset": 1.5}
      "eyJvZmZzZXQiOiAxfSB4",  // {"offset": 1} x
      "eyJvZmZzZXQiOiAx",      // {"offset": 1  (unterminated)
      "e=yJ",                  // padding in the middle
  };
  for (const std::string& token : bad) {
    const std::string message = error_message([&] { s::decode_page_token(token); });
    EXPECT_TRUE(contains(message, "Invalid page token")) << token << ": " << message;
    EXPECT_TRUE(contains(message, "next_page_token")) << message;
  }
}

TEST(Search, PaginateWalksAllItems) {
  const std::vector<int> all = {10, 11, 12, 13, 14};
  auto page = s::paginate(all, 2, "");
  EXPECT_EQ(page.items, (std::vector<int>{10, 11}));
  EXPECT_EQ(page.next_page_token, s::encode_page_token(2));
  page = s::paginate(all, 2, page.next_page_token);
  EXPECT_EQ(page.items, (std::vector<int>{12, 13}));
  page = s::paginate(all, 2, page.next_page_token);
  EXPECT_EQ(page.items, (std::vector<int>{14}));
  EXPECT_TRUE(page.next_page_token.empty());
  EXPECT_TRUE(s::paginate(all, 5, "").next_page_token.empty());
  EXPECT_TRUE(s::paginate(all, 2, s::encode_page_token(10)).items.empty());
}

}  // namespace
