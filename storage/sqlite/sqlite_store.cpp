#include "storage/sqlite/sqlite_store.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <mutex>
#include <random>
#include <set>
#include <unordered_map>
#include <utility>

#include "mlflow/error.hpp"
#include "mlflow/validation.hpp"
#include "storage/run_names.hpp"
#include "storage/search.hpp"
#include "storage/sqlite/database.hpp"
#include "storage/sqlite/schema.hpp"
#include "storage/sqlite/uri_utils.hpp"

namespace mlflow::sqlite {
namespace {

constexpr std::string_view RUN_NAME_TAG = "mlflow.runName";
constexpr std::string_view ACTIVE = "active";

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

/// uuid.uuid4().hex: 122 random bits from the OS (no PRNG state, so forked processes never repeat ids).
std::string new_run_id() {
  static thread_local std::random_device device;
  std::array<unsigned char, 16> bytes{};
  for (std::size_t i = 0; i < bytes.size(); i += 4) {
    const auto word = static_cast<std::uint32_t>(device());
    for (std::size_t j = 0; j < 4; ++j) bytes[i + j] = static_cast<unsigned char>(word >> (8 * j));
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char hex[] = "0123456789abcdef";
  std::string id;
  id.reserve(32);
  for (const unsigned char b : bytes) {
    id += hex[b >> 4];
    id += hex[b & 0x0f];
  }
  return id;
}

/// Experiment ids are integers in the table; anything else matches no experiment (as MLflow 2.17 answers).
std::optional<std::int64_t> parse_experiment_id(std::string_view id) {
  std::int64_t value = 0;
  const auto* end = id.data() + id.size();
  const auto [ptr, ec] = std::from_chars(id.data(), end, value);
  if (ec != std::errc() || ptr != end || id.empty()) return std::nullopt;
  return value;
}

MlflowError experiment_not_found(std::string_view id) {
  return MlflowError(ErrorCode::RESOURCE_DOES_NOT_EXIST, "No Experiment with id=" + std::string(id) + " exists");
}

MlflowError run_not_found(std::string_view id) {
  return MlflowError(ErrorCode::RESOURCE_DOES_NOT_EXIST, "Run with id=" + std::string(id) + " not found");
}

std::string_view stages_sql(ViewType view_type) {
  switch (view_type) {
    case ViewType::ACTIVE_ONLY:
      return "('active')";
    case ViewType::DELETED_ONLY:
      return "('deleted')";
    case ViewType::ALL:
      break;
  }
  return "('active', 'deleted')";
}

void check_max_results(std::int64_t max_results) {
  if (max_results < 1) {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "Invalid value " + std::to_string(max_results) +
                          " for parameter 'max_results' supplied. It must be a positive integer");
  }
  if (max_results > SEARCH_MAX_RESULTS_THRESHOLD) {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "Invalid value " + std::to_string(max_results) +
                          " for parameter 'max_results' supplied. It must be at most " +
                          std::to_string(SEARCH_MAX_RESULTS_THRESHOLD));
  }
}

/// A metric value as MLflow's SQL store keeps it: NaN as 0 with is_nan, +/-Inf as +/-DBL_MAX.
struct StoredValue {
  double value = 0.0;
  bool is_nan = false;
};

StoredValue to_stored(double value) {
  if (std::isnan(value)) return {0.0, true};
  if (std::isinf(value)) {
    return {value > 0 ? std::numeric_limits<double>::max() : std::numeric_limits<double>::lowest(), false};
  }
  return {value, false};
}

double from_stored(double value, bool is_nan) { return is_nan ? std::numeric_limits<double>::quiet_NaN() : value; }

/// Python's repr() of a str, for the batch param error message MLflow formats from a list of dicts.
std::string python_repr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (const char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c == quote) out += '\\';
        out += c;
    }
  }
  out += quote;
  return out;
}

// The (step, timestamp, value) order of MLflow's latest_metrics rule; value is the stored (sanitised) one.
struct LatestCandidate {
  std::int64_t step = 0;
  std::int64_t timestamp = 0;
  StoredValue stored;
};

bool strictly_greater(const LatestCandidate& a, const LatestCandidate& b) {
  if (a.step != b.step) return a.step > b.step;
  if (a.timestamp != b.timestamp) return a.timestamp > b.timestamp;
  return a.stored.value > b.stored.value;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------

struct SqliteStore::Impl {
  std::string tracking_uri;
  std::string path;
  std::string artifact_root;
  std::string revision;
  std::mutex mutex;
  std::unique_ptr<Database> db;

  // ---- reading ----

  std::optional<Experiment> read_experiment(std::int64_t id, ViewType view_type) {
    auto st = db->cached(
        "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time "
        "FROM experiments WHERE experiment_id = ? AND lifecycle_stage IN " +
        std::string(stages_sql(view_type)));
    st->bind(1, id);
    if (!st->step()) return std::nullopt;
    Experiment e = experiment_from_row(*st);
    e.tags = read_experiment_tags(id);
    return e;
  }

  static Experiment experiment_from_row(const Statement& st) {
    Experiment e;
    e.experiment_id = std::to_string(st.get_int64(0));
    e.name = st.get_text(1);
    e.artifact_location = st.get_text(2);
    e.lifecycle_stage = st.get_text(3);
    e.creation_time = st.get_optional_int64(4).value_or(0);
    e.last_update_time = st.get_optional_int64(5).value_or(0);
    return e;
  }

  std::vector<ExperimentTag> read_experiment_tags(std::int64_t id) {
    auto st = db->cached("SELECT \"key\", value FROM experiment_tags WHERE experiment_id = ? ORDER BY rowid");
    st->bind(1, id);
    std::vector<ExperimentTag> tags;
    while (st->step()) tags.push_back({st->get_text(0), st->get_text(1)});
    return tags;
  }

  static constexpr std::string_view RUN_COLUMNS =
      "run_uuid, name, user_id, status, start_time, end_time, artifact_uri, lifecycle_stage, experiment_id";

  static RunInfo run_info_from_row(const Statement& st) {
    RunInfo info;
    info.run_id = st.get_text(0);
    info.run_name = st.get_text(1);
    info.user_id = st.get_text(2);
    info.status = run_status_from_string(st.get_text(3));
    info.start_time = st.get_optional_int64(4).value_or(0);
    info.end_time = st.get_optional_int64(5);
    info.artifact_uri = st.get_text(6);
    info.lifecycle_stage = st.get_text(7);
    info.experiment_id = st.is_null(8) ? std::string() : std::to_string(st.get_int64(8));
    return info;
  }

  std::optional<RunInfo> read_run_info(const std::string& run_id) {
    auto st = db->cached("SELECT " + std::string(RUN_COLUMNS) + " FROM runs WHERE run_uuid = ?");
    st->bind(1, run_id);
    if (!st->step()) return std::nullopt;
    return run_info_from_row(*st);
  }

  RunInfo require_run(const std::string& run_id) {
    auto info = read_run_info(run_id);
    if (!info) throw run_not_found(run_id);
    return *info;
  }

  static void check_run_active(const RunInfo& info) {
    if (info.lifecycle_stage != ACTIVE) {
      throw MlflowError(
          ErrorCode::INVALID_PARAMETER_VALUE,
          "The run " + info.run_id + " must be in the 'active' state. Current state is " + info.lifecycle_stage + ".");
    }
  }

  static void check_experiment_active(const Experiment& e) {
    if (e.lifecycle_stage != ACTIVE) {
      throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE, "The experiment " + e.experiment_id +
                                                                " must be in the 'active' state. Current state is " +
                                                                e.lifecycle_stage + ".");
    }
  }

  static Metric metric_from_row(const Statement& st, int first) {
    Metric m;
    m.key = st.get_text(first);
    m.value = from_stored(st.get_double(first + 1), st.get_int64(first + 4) != 0);
    m.timestamp = st.get_optional_int64(first + 2).value_or(0);
    m.step = st.get_int64(first + 3);
    return m;
  }

  RunData read_run_data(const std::string& run_id) {
    RunData data;
    {
      auto st = db->cached(
          "SELECT \"key\", value, timestamp, step, is_nan FROM latest_metrics WHERE run_uuid = ? ORDER BY rowid");
      st->bind(1, run_id);
      while (st->step()) data.metrics.push_back(metric_from_row(*st, 0));
    }
    {
      auto st = db->cached("SELECT \"key\", value FROM params WHERE run_uuid = ? ORDER BY rowid");
      st->bind(1, run_id);
      while (st->step()) data.params.push_back({st->get_text(0), st->get_text(1)});
    }
    {
      auto st = db->cached("SELECT \"key\", value FROM tags WHERE run_uuid = ? ORDER BY rowid");
      st->bind(1, run_id);
      while (st->step()) data.tags.push_back({st->get_text(0), st->get_text(1)});
    }
    return data;
  }

  // ---- writing ----

  void upsert_run_tag(const std::string& run_id, std::string_view key, std::string_view value) {
    auto st = db->cached(
        "INSERT INTO tags (\"key\", value, run_uuid) VALUES (?, ?, ?) "
        "ON CONFLICT (\"key\", run_uuid) DO UPDATE SET value = excluded.value");
    st->bind(1, key).bind(2, value).bind(3, run_id);
    st->run();
  }

  void rename_run(const std::string& run_id, const std::string& name) {
    auto st = db->cached("UPDATE runs SET name = ? WHERE run_uuid = ?");
    st->bind(1, name).bind(2, run_id);
    st->run();
    upsert_run_tag(run_id, RUN_NAME_TAG, name);
  }

  void ensure_default_experiment() {
    auto any_experiment = [this] {
      auto st = db->cached("SELECT 1 FROM experiments LIMIT 1");
      return st->step();
    };
    if (any_experiment()) return;
    Transaction tx(*db, Transaction::Mode::immediate);
    if (!any_experiment()) {
      // As MLflow's _create_default_experiment: id 0, "<root>/0", even when the rowid sequence would say 1.
      const std::int64_t now = now_ms();
      auto st = db->cached(
          "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, "
          "last_update_time) VALUES (0, 'Default', ?, 'active', ?, ?)");
      st->bind(1, append_to_uri_path(artifact_root, {"0"})).bind(2, now).bind(3, now);
      st->run();
    }
    tx.commit();
  }

  void write_metrics(const std::string& run_id, const std::vector<Metric>& metrics) {
    if (metrics.empty()) return;
    // The greatest point per key within the batch (first one wins ties), in order of first appearance;
    // compared with the stored row once per key afterwards.
    std::vector<std::pair<const std::string*, LatestCandidate>> latest;
    std::unordered_map<std::string_view, std::size_t> index;
    {
      auto insert = db->cached(
          "INSERT INTO metrics (\"key\", value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?) "
          "ON CONFLICT DO NOTHING");
      for (const auto& m : metrics) {
        const StoredValue stored = to_stored(m.value);
        insert->bind(1, m.key).bind(2, stored.value).bind(3, m.timestamp).bind(4, run_id).bind(5, m.step);
        insert->bind(6, stored.is_nan ? 1 : 0);
        insert->run();
        insert->reset();
        const LatestCandidate candidate{m.step, m.timestamp, stored};
        const auto [it, inserted] = index.try_emplace(m.key, latest.size());
        if (inserted) {
          latest.emplace_back(&m.key, candidate);
        } else if (strictly_greater(candidate, latest[it->second].second)) {
          latest[it->second].second = candidate;
        }
      }
    }
    auto select = db->cached("SELECT value, timestamp, step FROM latest_metrics WHERE run_uuid = ? AND \"key\" = ?");
    auto insert = db->cached(
        "INSERT INTO latest_metrics (\"key\", value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, ?, ?)");
    auto update = db->cached(
        "UPDATE latest_metrics SET value = ?, timestamp = ?, step = ?, is_nan = ? WHERE run_uuid = ? AND \"key\" = ?");
    for (const auto& [key, candidate] : latest) {
      select->bind(1, run_id).bind(2, *key);
      std::optional<LatestCandidate> current;
      if (select->step()) {
        // A NULL timestamp (nullable column) sorts below every real one.
        current = LatestCandidate{select->get_int64(2),
                                  select->get_optional_int64(1).value_or(std::numeric_limits<std::int64_t>::min()),
                                  StoredValue{select->get_double(0), false}};
      }
      select->reset();
      if (!current) {
        insert->bind(1, *key).bind(2, candidate.stored.value).bind(3, candidate.timestamp).bind(4, candidate.step);
        insert->bind(5, candidate.stored.is_nan ? 1 : 0).bind(6, run_id);
        insert->run();
        insert->reset();
      } else if (strictly_greater(candidate, *current)) {
        update->bind(1, candidate.stored.value).bind(2, candidate.timestamp).bind(3, candidate.step);
        update->bind(4, candidate.stored.is_nan ? 1 : 0).bind(5, run_id).bind(6, *key);
        update->run();
        update->reset();
      }
    }
  }

  void write_params(const std::string& run_id, const std::vector<Param>& params, bool single_param_call) {
    if (params.empty()) return;
    struct Conflict {
      const Param* param;
      std::string old_value;
    };
    std::vector<Conflict> conflicts;
    std::vector<const Param*> fresh;
    {
      auto select = db->cached("SELECT value FROM params WHERE run_uuid = ? AND \"key\" = ?");
      for (const auto& p : params) {
        select->bind(1, run_id).bind(2, p.key);
        if (select->step()) {
          std::string old_value = select->get_text(0);
          if (old_value != p.value) conflicts.push_back({&p, std::move(old_value)});
        } else {
          fresh.push_back(&p);
        }
        select->reset();
      }
    }
    if (!conflicts.empty()) {
      std::string message;
      if (single_param_call) {
        const auto& c = conflicts.front();
        message = "Changing param values is not allowed. Param with key='" + c.param->key +
                  "' was already logged with value='" + c.old_value + "' for run ID='" + run_id +
                  "'. Attempted logging new value '" + c.param->value + "'.";
      } else {
        std::string list = "[";
        for (std::size_t i = 0; i < conflicts.size(); ++i) {
          if (i > 0) list += ", ";
          list += "{'key': " + python_repr(conflicts[i].param->key) +
                  ", 'old_value': " + python_repr(conflicts[i].old_value) +
                  ", 'new_value': " + python_repr(conflicts[i].param->value) + "}";
        }
        list += "]";
        message = "Changing param values is not allowed. Params were already logged='" + list + "' for run ID='" +
                  run_id + "'.";
      }
      throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE, message);
    }
    auto insert = db->cached("INSERT INTO params (\"key\", value, run_uuid) VALUES (?, ?, ?)");
    for (const Param* p : fresh) {
      insert->bind(1, p->key).bind(2, p->value).bind(3, run_id);
      insert->run();
      insert->reset();
    }
  }

  void write_tags(const std::string& run_id, const std::vector<RunTag>& tags) {
    for (const auto& tag : tags) {
      if (tag.key == RUN_NAME_TAG) {
        // MLflow routes this through update_run_info: an empty name changes nothing at all.
        if (!tag.value.empty()) rename_run(run_id, tag.value);
      } else {
        upsert_run_tag(run_id, tag.key, tag.value);
      }
    }
  }

  // Candidates of a search: the runs of the given experiments in the given lifecycle stages, with their data.
  std::vector<Run> load_runs(const std::vector<std::string>& experiment_ids, ViewType view_type) {
    std::vector<Run> runs;
    std::unordered_map<std::string, std::size_t> by_id;
    std::set<std::int64_t> seen;
    const std::string stages(stages_sql(view_type));
    for (const auto& id_text : experiment_ids) {
      const auto id = parse_experiment_id(id_text);
      if (!id || !seen.insert(*id).second) continue;
      {
        auto st = db->cached("SELECT " + std::string(RUN_COLUMNS) +
                             " FROM runs WHERE experiment_id = ? AND lifecycle_stage IN " + stages);
        st->bind(1, *id);
        while (st->step()) {
          Run run;
          run.info = run_info_from_row(*st);
          by_id.emplace(run.info.run_id, runs.size());
          runs.push_back(std::move(run));
        }
      }
      const std::string join =
          " JOIN runs r ON r.run_uuid = x.run_uuid WHERE r.experiment_id = ? AND r.lifecycle_stage IN " + stages +
          " ORDER BY x.rowid";
      {
        auto st = db->cached(
            "SELECT x.run_uuid, x.\"key\", x.value, x.timestamp, x.step, x.is_nan FROM latest_metrics x" + join);
        st->bind(1, *id);
        while (st->step()) {
          const auto it = by_id.find(st->get_text(0));
          if (it != by_id.end()) runs[it->second].data.metrics.push_back(metric_from_row(*st, 1));
        }
      }
      for (const bool params : {true, false}) {
        auto st = db->cached(std::string("SELECT x.run_uuid, x.\"key\", x.value FROM ") + (params ? "params" : "tags") +
                             " x" + join);
        st->bind(1, *id);
        while (st->step()) {
          const auto it = by_id.find(st->get_text(0));
          if (it == by_id.end()) continue;
          auto& data = runs[it->second].data;
          if (params) {
            data.params.push_back({st->get_text(1), st->get_text(2)});
          } else {
            data.tags.push_back({st->get_text(1), st->get_text(2)});
          }
        }
      }
    }
    return runs;
  }
};

// ---------------------------------------------------------------------------------------------------------------

bool SqliteStore::handles(std::string_view uri) {
  constexpr std::string_view scheme = "sqlite://";
  if (uri.size() < scheme.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    char c = uri[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != scheme[i]) return false;
  }
  return true;
}

std::string SqliteStore::path_from_uri(std::string_view uri) {
  if (!handles(uri)) {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "'" + std::string(uri) +
                          "' is not a sqlite URI; use sqlite:///relative/path.db or sqlite:////absolute/path.db");
  }
  const std::string_view rest = uri.substr(std::string_view("sqlite://").size());
  if (rest.empty()) return ":memory:";
  if (rest.front() != '/') {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "Unsupported sqlite URI '" + std::string(uri) +
                          "': a host part is not allowed. Use sqlite:///relative/path.db (three slashes, relative "
                          "to the current directory) or sqlite:////absolute/path.db (four slashes).");
  }
  const std::string_view path = rest.substr(1);
  if (path.find('?') != std::string_view::npos) {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "Unsupported sqlite URI '" + std::string(uri) +
                          "': query parameters are not supported by this store; remove the '?...' part.");
  }
  if (path.empty()) return ":memory:";
  return std::string(path);
}

SqliteStore::SqliteStore(const std::string& tracking_uri, const std::optional<std::string>& default_artifact_root)
    : impl_(std::make_unique<Impl>()) {
  impl_->tracking_uri = tracking_uri;
  const std::string path = path_from_uri(tracking_uri);
  impl_->path = path == ":memory:" ? path : std::filesystem::absolute(path).string();
  impl_->artifact_root = (default_artifact_root && !default_artifact_root->empty())
                             ? resolve_uri_if_local(*default_artifact_root)
                             : resolve_uri_if_local("./mlruns");
  if (impl_->path != ":memory:") {
    std::error_code ec;
    if (std::filesystem::is_directory(impl_->path, ec)) {
      throw MlflowError(
          ErrorCode::INVALID_PARAMETER_VALUE,
          "The tracking URI '" + tracking_uri + "' names a directory ('" + impl_->path + "'), not a database file.");
    }
    const auto parent = std::filesystem::path(impl_->path).parent_path();
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
      throw MlflowError(ErrorCode::IO_ERROR, "Cannot open the tracking store '" + tracking_uri + "': the directory '" +
                                                 parent.string() + "' does not exist. Create it first.");
    }
  }
  impl_->db = std::make_unique<Database>(impl_->path);
  impl_->revision = schema::open_or_create(*impl_->db).revision;
  impl_->ensure_default_experiment();
}

SqliteStore::~SqliteStore() = default;

const std::string& SqliteStore::path() const noexcept { return impl_->path; }
const std::string& SqliteStore::tracking_uri() const noexcept { return impl_->tracking_uri; }
const std::string& SqliteStore::default_artifact_root() const noexcept { return impl_->artifact_root; }
const std::string& SqliteStore::schema_revision() const noexcept { return impl_->revision; }

// ---- experiments ----------------------------------------------------------------------------------------------

std::string SqliteStore::create_experiment(const std::string& name, const std::optional<std::string>& artifact_location,
                                           const std::vector<ExperimentTag>& tags) {
  validation::validate_experiment_name(name);
  for (const auto& tag : tags) validation::validate_experiment_tag(tag);
  std::optional<std::string> location;
  if (artifact_location && !artifact_location->empty()) location = resolve_uri_if_local(*artifact_location);

  std::lock_guard lock(impl_->mutex);
  Database& db = *impl_->db;
  Transaction tx(db, Transaction::Mode::immediate);
  {
    auto st = db.cached("SELECT experiment_id, lifecycle_stage FROM experiments WHERE name = ?");
    st->bind(1, name);
    if (st->step()) {
      throw MlflowError(ErrorCode::RESOURCE_ALREADY_EXISTS,
                        "Experiment(name=" + name + ") already exists (experiment id " +
                            std::to_string(st->get_int64(0)) + ", lifecycle stage '" + st->get_text(1) +
                            "'). Experiment names are unique among active and deleted experiments; restore it or "
                            "choose another name.");
    }
  }
  const std::int64_t now = now_ms();
  {
    // The id comes from the rowid (max + 1), as MLflow lets the database pick it.
    auto st = db.cached(
        "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time) "
        "VALUES (?, ?, 'active', ?, ?)");
    st->bind(1, name).bind(2, location.value_or("")).bind(3, now).bind(4, now);
    st->run();
  }
  const std::int64_t id = db.last_insert_rowid();
  if (!location) {
    auto st = db.cached("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?");
    st->bind(1, append_to_uri_path(impl_->artifact_root, {std::to_string(id)})).bind(2, id);
    st->run();
  }
  for (const auto& tag : tags) {
    auto st = db.cached(
        "INSERT INTO experiment_tags (\"key\", value, experiment_id) VALUES (?, ?, ?) "
        "ON CONFLICT (\"key\", experiment_id) DO UPDATE SET value = excluded.value");
    st->bind(1, tag.key).bind(2, tag.value).bind(3, id);
    st->run();
  }
  tx.commit();
  return std::to_string(id);
}

Experiment SqliteStore::get_experiment(const std::string& experiment_id) {
  // MLflow reads an empty id as the Default experiment.
  const std::string id_text = experiment_id.empty() ? "0" : experiment_id;
  const auto id = parse_experiment_id(id_text);
  if (!id) throw experiment_not_found(id_text);
  std::lock_guard lock(impl_->mutex);
  Transaction tx(*impl_->db, Transaction::Mode::deferred);
  auto e = impl_->read_experiment(*id, ViewType::ALL);
  if (!e) throw experiment_not_found(id_text);
  tx.commit();
  return *e;
}

std::optional<Experiment> SqliteStore::get_experiment_by_name(const std::string& name) {
  std::lock_guard lock(impl_->mutex);
  Database& db = *impl_->db;
  Transaction tx(db, Transaction::Mode::deferred);
  auto st = db.cached(
      "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time "
      "FROM experiments WHERE name = ?");
  st->bind(1, name);
  if (!st->step()) return std::nullopt;
  Experiment e = Impl::experiment_from_row(*st);
  e.tags = impl_->read_experiment_tags(st->get_int64(0));
  tx.commit();
  return e;
}

PagedList<Experiment> SqliteStore::search_experiments(ViewType view_type, std::int64_t max_results,
                                                      const std::string& filter_string,
                                                      const std::vector<std::string>& order_by,
                                                      const std::string& page_token) {
  check_max_results(max_results);
  const auto filter = search::parse_experiment_filter(filter_string);
  const auto order = search::parse_experiment_order_by(order_by);
  if (!page_token.empty()) search::decode_page_token(page_token);  // a bad token fails before any work

  std::vector<Experiment> experiments;
  {
    std::lock_guard lock(impl_->mutex);
    Database& db = *impl_->db;
    Transaction tx(db, Transaction::Mode::deferred);
    std::unordered_map<std::int64_t, std::size_t> by_id;
    {
      auto st = db.cached(
          "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time "
          "FROM experiments WHERE lifecycle_stage IN " +
          std::string(stages_sql(view_type)));
      while (st->step()) {
        by_id.emplace(st->get_int64(0), experiments.size());
        experiments.push_back(Impl::experiment_from_row(*st));
      }
    }
    {
      auto st = db.cached("SELECT experiment_id, \"key\", value FROM experiment_tags ORDER BY rowid");
      while (st->step()) {
        const auto it = by_id.find(st->get_int64(0));
        if (it != by_id.end()) experiments[it->second].tags.push_back({st->get_text(1), st->get_text(2)});
      }
    }
    tx.commit();
  }
  std::vector<Experiment> matching;
  matching.reserve(experiments.size());
  for (auto& e : experiments) {
    if (search::matches(e, filter)) matching.push_back(std::move(e));
  }
  search::sort_experiments(matching, order);
  return search::paginate(std::move(matching), max_results, page_token);
}

void SqliteStore::rename_experiment(const std::string& experiment_id, const std::string& new_name) {
  validation::validate_experiment_name(new_name);
  const auto id = parse_experiment_id(experiment_id);
  if (!id) throw experiment_not_found(experiment_id);
  std::lock_guard lock(impl_->mutex);
  Database& db = *impl_->db;
  Transaction tx(db, Transaction::Mode::immediate);
  const auto e = impl_->read_experiment(*id, ViewType::ALL);
  if (!e) throw experiment_not_found(experiment_id);
  if (e->lifecycle_stage != ACTIVE) {
    throw MlflowError(ErrorCode::INVALID_STATE, "Cannot rename a non-active experiment.");
  }
  {
    auto st = db.cached("SELECT experiment_id FROM experiments WHERE name = ? AND experiment_id != ?");
    st->bind(1, new_name).bind(2, *id);
    if (st->step()) {
      // MLflow answers BAD_REQUEST here (the raw IntegrityError), not RESOURCE_ALREADY_EXISTS.
      throw MlflowError(ErrorCode::BAD_REQUEST,
                        "Cannot rename experiment " + experiment_id + " to '" + new_name + "': experiment " +
                            std::to_string(st->get_int64(0)) +
                            " already has that name (UNIQUE constraint failed: experiments.name).");
    }
  }
  auto st = db.cached("UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?");
  st->bind(1, new_name).bind(2, now_ms()).bind(3, *id);
  st->run();
  tx.commit();
}

void SqliteStore::delete_experiment(const std::string& experiment_id) {
  const auto id = parse_experiment_id(experiment_id);
  if (!id) throw experiment_not_found(experiment_id);
  std::lock_guard lock(impl_->mutex);
  Database& db = *impl_->db;
  Transaction tx(db, Transaction::Mode::immediate);
  if (!impl_->read_experiment(*id, ViewType::ACTIVE_ONLY)) throw experiment_not_found(experiment_id);
  const std::int64_t now = now_ms();
  {
    auto st =
        db.cached("UPDATE experiments SET lifecycle_stage = 'deleted', last_update_time = ? WHERE experiment_id = ?");
    st->bind(1, now).bind(2, *id);
    st->run();
  }
  {
    // Every run of the experiment, including ones deleted before (MLflow re-stamps their deleted_time too).
    auto st = db.cached("UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ? WHERE experiment_id = ?");
    st->bind(1, now).bind(2, *id);
    st->run();
  }
  tx.commit();
}

void SqliteStore::restore_experiment(const std::string& experiment_id) {
  const auto id = parse_experiment_id(experiment_id);
  if (!id) throw experiment_not_found(experiment_id);
  std::lock_guard lock(impl_->mutex);
  Database& db = *impl_->db;
  Transaction tx(db, Transaction::Mode::immediate);
  if (!impl_->read_experiment(*id, ViewType::DELETED_ONLY)) throw experiment_not_found(experiment_id);
  {
    auto st =
        db.cached("UPDATE experiments SET lifecycle_stage = 'active', last_update_time = ? WHERE experiment_id = ?");
    st->bind(1, now_ms()).bind(2, *id);
    st->run();
  }
  {
    // All runs come back, even ones deleted individually before the experiment was (as MLflow does).
    auto st = db.cached("UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL WHERE experiment_id = ?");
    st->bind(1, *id);
    st->run();
  }
  tx.commit();
}

void SqliteStore::set_experiment_tag(const std::string& experiment_id, const ExperimentTag& tag) {
  validation::validate_experiment_tag(tag);
  const auto id = parse_experiment_id(experiment_id);
  if (!id) throw experiment_not_found(experiment_id);
  std::lock_guard lock(impl_->mutex);
  Database& db = *impl_->db;
  Transaction tx(db, Transaction::Mode::immediate);
  const auto e = impl_->read_experiment(*id, ViewType::ALL);
  if (!e) throw experiment_not_found(experiment_id);
  Impl::check_experiment_active(*e);
  auto st = db.cached(
      "INSERT INTO experiment_tags (\"key\", value, experiment_id) VALUES (?, ?, ?) "
      "ON CONFLICT (\"key\", experiment_id) DO UPDATE SET value = excluded.value");
  st->bind(1, tag.key).bind(2, tag.value).bind(3, *id);
  st->run();
  tx.commit();
}

// ---- runs -----------------------------------------------------------------------------------------------------

Run SqliteStore::create_run(const std::string& experiment_id, const std::string& user_id, std::int64_t start_time,
                            const std::vector<RunTag>& tags, const std::string& run_name) {
  if (experiment_id.empty()) {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "create_run needs an experiment id (\"0\" is the Default experiment).");
  }
  // Tags given at creation are stored as they are (MLflow's SQL store does not validate them either); a key
  // given twice keeps its last value.
  std::vector<RunTag> run_tags;
  for (const auto& tag : tags) {
    auto it = std::find_if(run_tags.begin(), run_tags.end(), [&](const RunTag& t) { return t.key == tag.key; });
    if (it != run_tags.end()) {
      it->value = tag.value;
    } else {
      run_tags.push_back(tag);
    }
  }
  auto name_tag = std::find_if(run_tags.begin(), run_tags.end(), [](const RunTag& t) { return t.key == RUN_NAME_TAG; });
  const bool has_name_tag = name_tag != run_tags.end() && !name_tag->value.empty();
  if (!run_name.empty() && has_name_tag && run_name != name_tag->value) {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values "
                      "(run_name='" +
                          run_name + "', mlflow.runName='" + name_tag->value + "').");
  }
  const std::string name =
      !run_name.empty() ? run_name : (has_name_tag ? name_tag->value : mlflow::detail::generate_run_name());
  if (name_tag == run_tags.end()) {
    run_tags.push_back({std::string(RUN_NAME_TAG), name});
  } else {
    name_tag->value = name;
  }

  const auto id = parse_experiment_id(experiment_id);
  if (!id) throw experiment_not_found(experiment_id);

  std::lock_guard lock(impl_->mutex);
  Database& db = *impl_->db;
  Transaction tx(db, Transaction::Mode::immediate);
  const auto experiment = impl_->read_experiment(*id, ViewType::ALL);
  if (!experiment) throw experiment_not_found(experiment_id);
  Impl::check_experiment_active(*experiment);

  Run run;
  run.info.run_id = new_run_id();
  run.info.run_name = name;
  run.info.experiment_id = experiment->experiment_id;
  run.info.user_id = user_id;
  run.info.status = RunStatus::RUNNING;
  run.info.start_time = start_time;
  run.info.artifact_uri = append_to_uri_path(experiment->artifact_location, {run.info.run_id, "artifacts"});
  run.info.lifecycle_stage = std::string(ACTIVE);
  {
    auto st = db.cached(
        "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, start_time, "
        "end_time, source_version, lifecycle_stage, artifact_uri, experiment_id, deleted_time) "
        "VALUES (?, ?, 'UNKNOWN', '', '', ?, 'RUNNING', ?, NULL, '', 'active', ?, ?, NULL)");
    st->bind(1, run.info.run_id).bind(2, name).bind(3, user_id).bind(4, start_time);
    st->bind(5, run.info.artifact_uri).bind(6, *id);
    st->run();
  }
  for (const auto& tag : run_tags) impl_->upsert_run_tag(run.info.run_id, tag.key, tag.value);
  tx.commit();
  run.data.tags = std::move(run_tags);
  return run;
}

Run SqliteStore::get_run(const std::string& run_id) {
  std::lock_guard lock(impl_->mutex);
  Transaction tx(*impl_->db, Transaction::Mode::deferred);
  Run run;
  run.info = impl_->require_run(run_id);
  run.data = impl_->read_run_data(run_id);
  tx.commit();
  return run;
}

RunInfo SqliteStore::update_run_info(const std::string& run_id, std::optional<RunStatus> status,
                                     std::optional<std::int64_t> end_time, const std::optional<std::string>& run_name) {
  std::lock_guard lock(impl_->mutex);
  Database& db = *impl_->db;
  Transaction tx(db, Transaction::Mode::immediate);
  RunInfo info = impl_->require_run(run_id);
  Impl::check_run_active(info);
  if (status) {
    auto st = db.cached("UPDATE runs SET status = ? WHERE run_uuid = ?");
    st->bind(1, to_string(*status)).bind(2, run_id);
    st->run();
    info.status = *status;
  }
  if (end_time) {
    auto st = db.cached("UPDATE runs SET end_time = ? WHERE run_uuid = ?");
    st->bind(1, *end_time).bind(2, run_id);
    st->run();
    info.end_time = end_time;
  }
  if (run_name && !run_name->empty()) {
    impl_->rename_run(run_id, *run_name);
    info.run_name = *run_name;
  }
  tx.commit();
  return info;
}

void SqliteStore::delete_run(const std::string& run_id) {
  std::lock_guard lock(impl_->mutex);
  Database& db = *impl_->db;
  Transaction tx(db, Transaction::Mode::immediate);
  impl_->require_run(run_id);
  auto st = db.cached("UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ? WHERE run_uuid = ?");
  st->bind(1, now_ms()).bind(2, run_id);
  st->run();
  tx.commit();
}

void SqliteStore::restore_run(const std::string& run_id) {
  std::lock_guard lock(impl_->mutex);
  Database& db = *impl_->db;
  Transaction tx(db, Transaction::Mode::immediate);
  impl_->require_run(run_id);
  auto st = db.cached("UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL WHERE run_uuid = ?");
  st->bind(1, run_id);
  st->run();
  tx.commit();
}

void SqliteStore::delete_tag(const std::string& run_id, const std::string& key) {
  std::lock_guard lock(impl_->mutex);
  Database& db = *impl_->db;
  Transaction tx(db, Transaction::Mode::immediate);
  Impl::check_run_active(impl_->require_run(run_id));
  {
    auto st = db.cached("DELETE FROM tags WHERE run_uuid = ? AND \"key\" = ?");
    st->bind(1, run_id).bind(2, key);
    st->run();
  }
  if (db.changes() == 0) {
    throw MlflowError(ErrorCode::RESOURCE_DOES_NOT_EXIST, "No tag with name: " + key + " in run with id " + run_id);
  }
  tx.commit();
}

void SqliteStore::log_batch(const std::string& run_id, const std::vector<Metric>& metrics,
                            const std::vector<Param>& params, const std::vector<RunTag>& tags) {
  // Validation first, as MLflow's store does, so a bad item fails the whole batch before anything is written.
  validation::validate_run_id(run_id);
  for (const auto& m : metrics) validation::validate_metric(m);
  std::vector<Param> clean_params;
  clean_params.reserve(params.size());
  for (const auto& p : params) {
    validation::validate_param_name(p.key);
    clean_params.push_back({p.key, validation::validate_param_value(p.key, p.value)});
  }
  std::vector<RunTag> clean_tags;
  clean_tags.reserve(tags.size());
  for (const auto& t : tags) {
    validation::validate_tag_name(t.key);
    clean_tags.push_back({t.key, validation::validate_tag_value(t.key, t.value)});
  }
  validation::validate_no_duplicate_param_keys(clean_params);

  std::lock_guard lock(impl_->mutex);
  Database& db = *impl_->db;
  Transaction tx(db, Transaction::Mode::immediate);
  Impl::check_run_active(impl_->require_run(run_id));
  impl_->write_metrics(run_id, metrics);
  // log_param() arrives here as a batch of one param; it gets the message of MLflow's single log_param.
  const bool single_param_call = metrics.empty() && tags.empty() && clean_params.size() == 1;
  impl_->write_params(run_id, clean_params, single_param_call);
  impl_->write_tags(run_id, clean_tags);
  tx.commit();
}

std::vector<Metric> SqliteStore::get_metric_history(const std::string& run_id, const std::string& key) {
  std::lock_guard lock(impl_->mutex);
  auto st = impl_->db->cached(
      "SELECT \"key\", value, timestamp, step, is_nan FROM metrics WHERE run_uuid = ? AND \"key\" = ? "
      "ORDER BY timestamp, step, value");
  st->bind(1, run_id).bind(2, key);
  std::vector<Metric> history;
  while (st->step()) history.push_back(Impl::metric_from_row(*st, 0));
  return history;
}

PagedList<Run> SqliteStore::search_runs(const std::vector<std::string>& experiment_ids,
                                        const std::string& filter_string, ViewType run_view_type,
                                        std::int64_t max_results, const std::vector<std::string>& order_by,
                                        const std::string& page_token) {
  check_max_results(max_results);
  const auto filter = search::parse_run_filter(filter_string);
  const auto order = search::parse_order_by(order_by);
  if (!page_token.empty()) search::decode_page_token(page_token);  // a bad token fails before any work

  std::vector<Run> runs;
  {
    std::lock_guard lock(impl_->mutex);
    Transaction tx(*impl_->db, Transaction::Mode::deferred);
    runs = impl_->load_runs(experiment_ids, run_view_type);
    tx.commit();
  }
  std::vector<Run> matching;
  matching.reserve(runs.size());
  for (auto& run : runs) {
    if (search::matches(run, filter)) matching.push_back(std::move(run));
  }
  search::sort_runs(matching, order);
  return search::paginate(std::move(matching), max_results, page_token);
}

}  // namespace mlflow::sqlite
