#include "storage/run_names.hpp"

#include <array>
#include <random>
#include <string_view>

namespace mlflow::detail {
namespace {

// Our own word lists (not MLflow's). Short words keep most "adjective-animal-NNN" names within 20 characters.
constexpr std::array<std::string_view, 100> kAdjectives{
    "agile",   "airy",    "amber",   "ancient", "arctic",  "artful",  "azure",   "balmy",   "blithe",  "breezy",
    "brisk",   "bubbly",  "candid",  "cheery",  "cobalt",  "cosmic",  "crimson", "crisp",   "curious", "dainty",
    "dashing", "deft",    "dreamy",  "dusky",   "eager",   "earnest", "elated",  "elegant", "emerald", "epic",
    "fabled",  "fervent", "fiery",   "fluffy",  "frosty",  "gilded",  "glad",    "glossy",  "golden",  "grand",
    "hardy",   "hazy",    "hearty",  "humble",  "icy",     "ivory",   "jade",    "jaunty",  "jolly",   "jovial",
    "keen",    "kindly",  "lively",  "lofty",   "lucid",   "lucky",   "lunar",   "mellow",  "merry",   "mighty",
    "misty",   "modest",  "mossy",   "nimble",  "noble",   "oaken",   "opal",    "peppy",   "placid",  "plucky",
    "polite",  "prudent", "quaint",  "quiet",   "quirky",  "radiant", "rapid",   "rosy",    "rustic",  "sandy",
    "serene",  "silent",  "silver",  "sleek",   "snowy",   "solar",   "spry",    "stellar", "sturdy",  "sunny",
    "tawny",   "tidy",    "tranquil", "velvet", "vivid",   "warm",    "wise",    "witty",   "zany",    "zesty",
};

constexpr std::array<std::string_view, 100> kAnimals{
    "alpaca",  "axolotl", "baboon",  "badger",  "beaver",  "beetle",  "bison",   "bobcat",  "camel",   "caribou",
    "cheetah", "cobra",   "condor",  "cougar",  "coyote",  "cricket", "dingo",   "egret",   "ermine",  "falcon",
    "ferret",  "gannet",  "gazelle", "gecko",   "gibbon",  "giraffe", "gopher",  "grebe",   "hamster", "heron",
    "hippo",   "hornet",  "hyena",   "ibex",    "iguana",  "impala",  "jackal",  "jaguar",  "kestrel", "kiwi",
    "koala",   "lemur",   "leopard", "llama",   "lobster", "macaw",   "magpie",  "manatee", "mantis",  "marmot",
    "marten",  "meerkat", "minnow",  "mussel",  "narwhal", "ocelot",  "octopus", "okapi",   "orca",    "oriole",
    "osprey",  "ostrich", "otter",   "oyster",  "parrot",  "pelican", "petrel",  "pika",    "plover",  "prawn",
    "puffin",  "puma",    "python",  "quokka",  "rabbit",  "raccoon", "raven",   "salmon",  "sardine", "scallop",
    "serval",  "siskin",  "sparrow", "tamarin", "tapir",   "termite", "thrush",  "tiger",   "toucan",  "urchin",
    "viper",   "vulture", "wallaby", "walrus",  "warbler", "weasel",  "wildcat", "wombat",  "yak",     "zebu",
};

constexpr std::size_t kMaxNameLength = 20;

std::mt19937_64& thread_rng() {
  // One engine per thread: no locking, and threads never share a sequence.
  thread_local std::mt19937_64 rng{[] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }()};
  return rng;
}

}  // namespace

std::string generate_run_name() {
  auto& rng = thread_rng();
  std::uniform_int_distribution<std::size_t> adjective(0, kAdjectives.size() - 1);
  std::uniform_int_distribution<std::size_t> animal(0, kAnimals.size() - 1);
  std::uniform_int_distribution<int> number(0, 1000);
  for (;;) {
    std::string name;
    name.append(kAdjectives[adjective(rng)]).append("-").append(kAnimals[animal(rng)]).append("-");
    name.append(std::to_string(number(rng)));
    if (name.size() <= kMaxNameLength) return name;
  }
}

}  // namespace mlflow::detail
