// pair_style unihub/mtp: unihub MTP students (MLIP-2 .mtp files) inside LAMMPS.
//
//   pair_style unihub/mtp
//   pair_coeff * * student.mtp Si Ge      (one element name, or NULL, per LAMMPS atom type)
//
// Tallies: energy, forces, global and per-atom virial, per-atom energy. The per-atom energy is
// the MTP site energy E_i; the per-atom virial gives atom i the pair terms of its own site.
// Units metal only; any newton_pair setting; any number of MPI ranks.
#pragma once

#include <vector>

#include "mtp_core.hpp"
#include "mtp_reader.hpp"
#include "pair.h"

namespace LAMMPS_NS {

class PairUnihubMTP : public Pair {
 public:
  explicit PairUnihubMTP(class LAMMPS *);
  ~PairUnihubMTP() override;

  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;
  int pack_reverse_comm(int, int, double *) override;
  void unpack_reverse_comm(int, int *, double *) override;
  double memory_usage() override;

 protected:
  unihub::MTPFile file_;        // owns the coefficients that model_ points into
  mtp::Model model_;
  mtp::Work work_;
  bool loaded_ = false;
  std::string floor_path_;  // `pair_style unihub/mtp floor x.core.table`: the radial functions' floor
  std::vector<int> species_of_type_;  // LAMMPS type (1-based) -> MTP species, -1 for NULL
  // one centre's neighbourhood within the cutoff, gathered from the (skin-padded) full list
  std::vector<int> nb_index_, nb_species_;
  std::vector<double> nb_rv_, nb_grad_;

  void allocate();
  void load(const char *path);
  std::string read_all(const char *path, const char *what);
};

}  // namespace LAMMPS_NS
