// mlflow-cpp experiments list|create|delete|restore

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "tracker/cli/commands.hpp"
#include "tracker/cli/output.hpp"
#include "tracker/transport/uri_redaction.hpp"

namespace mlflow::cli {

namespace json = boost::json;

namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= '0' && c <= '9'; });
}

bool is_not_found(const MlflowError& error) {
  return error.error_code() == ErrorCode::RESOURCE_DOES_NOT_EXIST || error.error_code() == ErrorCode::NOT_FOUND;
}

struct ListOptions {
  std::string view = "active";
  std::string filter;
  std::vector<std::string> order_by;
  std::int64_t max = 0;
};

void list_experiments(CliContext& ctx, const ListOptions& options) {
  auto& client = ctx.client();
  const ViewType view = view_from_flag(options.view);
  auto experiments = collect_pages<Experiment>(options.max, [&](std::int64_t page_size, const std::string& token) {
    return client.search_experiments(view, page_size, options.filter, options.order_by, token);
  });
  if (ctx.json) {
    json::array array;
    for (const auto& experiment : experiments) array.push_back(to_json(experiment));
    write_json(std::cout, json::object{{"experiments", std::move(array)}});
    return;
  }
  if (experiments.empty()) {
    std::cout << "No experiments.\n";
    return;
  }
  const bool show_stage = view != ViewType::ACTIVE_ONLY;
  std::vector<std::string> headers{"ID", "NAME"};
  if (show_stage) headers.push_back("STAGE");
  headers.insert(headers.end(), {"CREATED", "ARTIFACT LOCATION"});
  Table table(headers);
  table.align_right(0);
  for (const auto& experiment : experiments) {
    std::vector<std::string> row{experiment.experiment_id, experiment.name};
    if (show_stage) row.push_back(experiment.lifecycle_stage);
    row.push_back(format_time_ms(experiment.creation_time));
    row.push_back(experiment.artifact_location);
    table.add_row(std::move(row));
  }
  table.print(std::cout);
}

}  // namespace

ViewType view_from_flag(const std::string& view) {
  if (view == "deleted") return ViewType::DELETED_ONLY;
  if (view == "all") return ViewType::ALL;
  return ViewType::ACTIVE_ONLY;
}

Experiment resolve_experiment(CliContext& ctx, const std::string& ref) {
  auto& client = ctx.client();
  if (all_digits(ref)) {
    try {
      return client.get_experiment(ref);
    } catch (const MlflowError& error) {
      if (!is_not_found(error)) throw;
    }
  }
  if (auto experiment = client.get_experiment_by_name(ref)) return *experiment;
  throw MlflowError(ErrorCode::RESOURCE_DOES_NOT_EXIST,
                    "No experiment with id or name '" + ref + "' in " + transport::redact_password(ctx.tracking_uri()) +
                        ". See them with: mlflow-cpp experiments list --view all");
}

void add_experiments_command(CLI::App& app, CliContext& ctx) {
  auto* group = app.add_subcommand("experiments", "List, create, delete and restore experiments");
  group->require_subcommand(1);

  auto list_options = std::make_shared<ListOptions>();
  auto* list = group->add_subcommand("list", "List experiments (a table, or JSON with --json)");
  list->add_option("--view", list_options->view, "Which experiments: active, deleted or all")
      ->check(CLI::IsMember({"active", "deleted", "all"}))
      ->capture_default_str();
  list->add_option("--filter", list_options->filter,
                   "MLflow filter, e.g. \"name LIKE 'sig%'\" or \"tags.team = 'ml'\"");
  list->add_option("--order-by", list_options->order_by, "Sort keys, e.g. \"name ASC\" (repeatable)");
  list->add_option("--max", list_options->max, "At most N experiments (default: all)")->check(CLI::NonNegativeNumber);
  list->callback([&ctx, list_options] { list_experiments(ctx, *list_options); });

  struct CreateOptions {
    std::string name;
    std::string artifact_location;
    std::vector<std::string> tags;
  };
  auto create_options = std::make_shared<CreateOptions>();
  auto* create = group->add_subcommand("create", "Create an experiment and print its id");
  create->add_option("NAME", create_options->name, "Experiment name")->required();
  create->add_option("--artifact-location", create_options->artifact_location,
                     "Where its runs store artifacts (default: chosen by the store)");
  create->add_option("--tag", create_options->tags, "KEY=VALUE experiment tag (repeatable)");
  create->callback([&ctx, create_options] {
    std::map<std::string, std::string> tags;
    for (const auto& tag : create_options->tags) {
      const auto eq = tag.find('=');
      if (eq == std::string::npos || eq == 0)
        throw CLI::ValidationError("--tag", "expected KEY=VALUE, got '" + tag + "'");
      tags[tag.substr(0, eq)] = tag.substr(eq + 1);
    }
    std::optional<std::string> location;
    if (!create_options->artifact_location.empty()) location = create_options->artifact_location;
    const std::string id = ctx.client().create_experiment(create_options->name, location, tags);
    if (ctx.json) {
      write_json(std::cout, json::object{{"experiment_id", id}, {"name", create_options->name}});
    } else {
      std::cout << "Created experiment '" << create_options->name << "' with id " << id << '\n';
    }
  });

  // delete and restore differ only in the call and the words.
  auto add_lifecycle = [&](const char* name, const char* help, bool restore) {
    auto ref = std::make_shared<std::string>();
    auto* command = group->add_subcommand(name, help);
    command->add_option("EXPERIMENT", *ref, "Experiment id or name")->required();
    command->callback([&ctx, ref, restore] {
      const Experiment experiment = resolve_experiment(ctx, *ref);
      if (restore) {
        ctx.client().restore_experiment(experiment.experiment_id);
      } else {
        ctx.client().delete_experiment(experiment.experiment_id);
      }
      const Experiment after = ctx.client().get_experiment(experiment.experiment_id);
      if (ctx.json) {
        write_json(std::cout, to_json(after));
      } else {
        std::cout << (restore ? "Restored" : "Deleted") << " experiment '" << after.name << "' (id "
                  << after.experiment_id << ")\n";
      }
    });
  };
  add_lifecycle("delete", "Mark an experiment and its runs deleted (restore undoes it)", false);
  add_lifecycle("restore", "Restore a deleted experiment", true);
}

}  // namespace mlflow::cli
