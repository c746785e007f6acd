// Parser for MLIP-2 ".mtp" text (the layout finetune/mtp/mtpfile.py writes and reads), kept free
// of LAMMPS so it can be unit-tested on its own. It only fills arrays; the maths lives in
// finetune/mtp/kernel/mtp_core.hpp, which MTPFile::bind hands the arrays to.
#pragma once

#include <cstdlib>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "mtp_core.hpp"

namespace unihub {

struct MTPFile {
  int species_count = 0, radial_basis_size = 0, radial_funcs_count = 0, alpha_moments_count = 0;
  double min_dist = 0, max_dist = 0, scaling = 1;
  std::vector<std::string> elements;  // from "potential_tag = elements:Si,Ge"; empty if untagged
  std::vector<int> basic, times, mapping;  // [n][4], [n][4], [n_scalar]
  std::vector<double> radial, species, moment;

  // The maths core borrows pointers into this object: keep it alive and unmodified after bind.
  void bind(mtp::Model& m) const {
    m.init(species_count, radial_funcs_count, radial_basis_size, min_dist, max_dist, scaling, radial.data(),
           species.data(), moment.data(), (int)basic.size() / 4, basic.data(), (int)times.size() / 4, times.data(),
           (int)mapping.size(), mapping.data(), alpha_moments_count);
  }
};

namespace detail {

inline std::string trim(const std::string& s) {
  const char* ws = " \t\r\n";
  const size_t a = s.find_first_not_of(ws);
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(ws) - a + 1);
}

// Every number in a "{...}" list, whatever the nesting and separators.
inline std::vector<double> numbers(const std::string& s) {
  std::vector<double> out;
  const char* p = s.c_str();
  while (*p) {
    if ((*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == '.') {
      char* end = nullptr;
      const double v = std::strtod(p, &end);
      if (end == p) throw std::runtime_error("cannot parse a number in '" + s.substr(0, 80) + "'");
      out.push_back(v);
      p = end;
    } else {
      ++p;
    }
  }
  return out;
}

inline std::vector<int> integers(const std::string& s) {
  std::vector<int> out;
  for (double v : numbers(s)) out.push_back((int)v);
  return out;
}

}  // namespace detail

// Parse the text of a trained .mtp file; throws std::runtime_error naming what is wrong.
inline MTPFile parse_mtp(const std::string& text) {
  using detail::trim;
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || trim(line) != "MTP") throw std::runtime_error("not an MTP file: first line must be 'MTP'");
  std::map<std::string, std::string> kv;
  std::vector<double> radial;
  bool have_radial = false;
  std::string pending;  // a line read ahead while scanning the radial_coeffs block
  bool has_pending = false;
  while (has_pending || std::getline(in, line)) {
    if (has_pending) { line = pending; has_pending = false; }
    const std::string s = trim(line);
    if (s.empty()) continue;
    if (s == "radial_coeffs") {
      have_radial = true;
      // rows "{...}" follow, under "a-b" labels, until the next "key = value" or blank line
      while (std::getline(in, line)) {
        const std::string t = trim(line);
        if (t.empty() || t.find('=') != std::string::npos) { pending = line; has_pending = true; break; }
        if (t[0] == '{') for (double v : detail::numbers(t)) radial.push_back(v);
      }
      continue;
    }
    const size_t eq = s.find('=');
    if (eq == std::string::npos) throw std::runtime_error("cannot parse .mtp line: '" + s + "'");
    kv[trim(s.substr(0, eq))] = trim(s.substr(eq + 1));
  }
  if (kv.count("magnetic_basis_type")) throw std::runtime_error("magnetic MTP files are not supported");
  const std::pair<const char*, const char*> aliases[] = {{"min", "min_dist"}, {"max", "max_dist"},
                                                         {"size", "radial_basis_size"}, {"min_val", "min_dist"},
                                                         {"max_val", "max_dist"}, {"basis_size", "radial_basis_size"}};
  for (const auto& a : aliases)
    if (kv.count(a.first) && !kv.count(a.second)) kv[a.second] = kv[a.first];
  auto need = [&](const char* key) -> const std::string& {
    auto it = kv.find(key);
    if (it == kv.end()) throw std::runtime_error(std::string(".mtp file lacks the field '") + key + "'");
    return it->second;
  };
  MTPFile f;
  f.species_count = std::stoi(need("species_count"));
  f.radial_funcs_count = std::stoi(need("radial_funcs_count"));
  f.radial_basis_size = std::stoi(need("radial_basis_size"));
  f.min_dist = std::stod(need("min_dist"));
  f.max_dist = std::stod(need("max_dist"));
  f.alpha_moments_count = std::stoi(need("alpha_moments_count"));
  if (kv.count("scaling")) f.scaling = std::stod(kv["scaling"]);
  if (kv.count("radial_basis_type") && kv["radial_basis_type"] != "RBChebyshev")
    throw std::runtime_error("unsupported radial_basis_type '" + kv["radial_basis_type"] + "' (only RBChebyshev)");
  f.basic = detail::integers(need("alpha_index_basic"));
  f.times = detail::integers(need("alpha_index_times"));
  f.mapping = detail::integers(need("alpha_moment_mapping"));
  const std::string prefix = "elements:";
  const std::string tag = kv.count("potential_tag") ? kv["potential_tag"] : "";
  if (tag.compare(0, prefix.size(), prefix) == 0) {
    std::istringstream names(tag.substr(prefix.size()));
    std::string name;
    while (std::getline(names, name, ','))
      if (!trim(name).empty()) f.elements.push_back(trim(name));
  }
  if (!have_radial || !kv.count("moment_coeffs") || !kv.count("species_coeffs"))
    throw std::runtime_error("the .mtp file is an untrained template (no radial/species/moment coefficients)");
  f.radial = radial;
  f.species = detail::numbers(kv["species_coeffs"]);
  f.moment = detail::numbers(kv["moment_coeffs"]);

  const int ns = f.species_count, nf = f.radial_funcs_count, nb = f.radial_basis_size;
  const int n_alpha = f.alpha_moments_count;
  if (ns < 1 || nf < 1 || nb < 1) throw std::runtime_error("species_count, radial_funcs_count and radial_basis_size must be positive");
  if (!(f.max_dist > f.min_dist)) throw std::runtime_error("max_dist must exceed min_dist");
  if (!f.elements.empty() && (int)f.elements.size() != ns)
    throw std::runtime_error("potential_tag names " + std::to_string(f.elements.size()) + " elements for species_count=" +
                             std::to_string(ns));
  if (f.radial.size() != (size_t)ns * ns * nf * nb)
    throw std::runtime_error("radial_coeffs has " + std::to_string(f.radial.size()) + " numbers, expected " +
                             std::to_string((size_t)ns * ns * nf * nb));
  if ((int)f.species.size() != ns) throw std::runtime_error("species_coeffs does not have species_count entries");
  if (f.moment.size() != f.mapping.size()) throw std::runtime_error("moment_coeffs and alpha_moment_mapping differ in length");
  if (f.basic.size() % 4 || f.times.size() % 4) throw std::runtime_error("alpha_index_basic/times rows must have 4 entries");
  for (size_t k = 0; k < f.basic.size(); k += 4)
    if (f.basic[k] < 0 || f.basic[k] >= nf) throw std::runtime_error("alpha_index_basic uses a radial function beyond radial_funcs_count");
  for (size_t k = 0; k < f.times.size(); k += 4)
    if (f.times[k] < 0 || f.times[k] >= n_alpha || f.times[k + 1] < 0 || f.times[k + 1] >= n_alpha || f.times[k + 3] < 0 ||
        f.times[k + 3] >= n_alpha)
      throw std::runtime_error("alpha_index_times refers beyond alpha_moments_count");
  for (int q : f.mapping)
    if (q < 0 || q >= n_alpha) throw std::runtime_error("alpha_moment_mapping refers beyond alpha_moments_count");
  return f;
}

// The floor of an MTP's radial functions from a core table (finetune/mtp/repulsion.py writes it): its comment lines
// "# elements: A B ...", "# floor_width: w" and "# pair A-B r_in x r_out y"; the floor of pair A-B is its r_out.
// Returns floor[ns*ns] in the species order `elements` (the .mtp file's), and sets width.
inline std::vector<double> parse_floor(const std::string& text, const std::vector<std::string>& elements,
                                       double& width) {
  const size_t ns = elements.size();
  if (ns == 0) throw std::runtime_error("the .mtp file names no elements, so a core table cannot be matched to it");
  std::vector<double> floor(ns * ns, -1.0);
  std::vector<std::string> table_elements;
  width = -1.0;
  std::istringstream in(text);
  std::string line;
  auto index = [&](const std::string& e) {
    for (size_t k = 0; k < ns; ++k)
      if (elements[k] == e) return (int)k;
    throw std::runtime_error("the core table names element " + e + ", which the .mtp file does not have");
  };
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string hash, key;
    words >> hash >> key;
    if (hash != "#") continue;
    if (key == "elements:") {
      for (std::string e; words >> e;) table_elements.push_back(e);
    } else if (key == "floor_width:") {
      words >> width;
    } else if (key == "pair") {
      std::string pair, k_in, k_out;
      double r_in = 0, r_out = 0;
      words >> pair >> k_in >> r_in >> k_out >> r_out;
      const size_t dash = pair.find('-');
      if (words.fail() || dash == std::string::npos || k_out != "r_out")
        throw std::runtime_error("cannot read the core table line '" + line + "'");
      const int a = index(pair.substr(0, dash)), b = index(pair.substr(dash + 1));
      floor[(size_t)a * ns + b] = floor[(size_t)b * ns + a] = r_out;
    }
  }
  if (table_elements != elements) throw std::runtime_error("the core table's elements differ from the .mtp file's");
  if (!(width > 0)) throw std::runtime_error("the core table has no positive '# floor_width:'");
  for (double r : floor)
    if (!(r > 0)) throw std::runtime_error("the core table lacks the r_out of some species pair");
  return floor;
}

}  // namespace unihub
