// pair_style unihub/mtp. The MTP site energy E_i depends on the whole neighbourhood of i, so a
// full neighbour list is requested and each pair term dE_i/dr_ij is applied to i and to j (j is
// often a ghost). With newton_pair on, LAMMPS sums ghost forces back onto their owners after
// compute(); with newton_pair off it does not, so compute() does that reverse communication
// itself. The virial is tallied per pair (not by f.r), which is right in both modes.
#include "pair_unihub_mtp.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"

using namespace LAMMPS_NS;

PairUnihubMTP::PairUnihubMTP(LAMMPS *lmp) : Pair(lmp)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  no_virial_fdotr_compute = 1;
  comm_reverse = 3;
  comm_reverse_off = 3;  // buffers for our own reverse communication when newton_pair is off
}

PairUnihubMTP::~PairUnihubMTP()
{
  if (copymode) return;
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
  }
}

void PairUnihubMTP::allocate()
{
  const int n = atom->ntypes + 1;
  memory->create(setflag, n, n, "pair:setflag");
  memory->create(cutsq, n, n, "pair:cutsq");
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) setflag[i][j] = 0;
  allocated = 1;
}

void PairUnihubMTP::settings(int narg, char **arg)
{
  floor_path_.clear();
  if (narg == 2 && strcmp(arg[0], "floor") == 0) {
    floor_path_ = arg[1];
  } else if (narg != 0) {
    error->all(FLERR, "pair_style unihub/mtp takes no arguments, or 'floor x.core.table' (the .mtp file goes to "
               "pair_coeff)");
  }
}

std::string PairUnihubMTP::read_all(const char *path, const char *what)
{
  // rank 0 reads, everyone parses the same bytes: no file-system storm on many ranks
  std::string text;
  int ok = 1;
  if (comm->me == 0) {
    std::ifstream in(path, std::ios::binary);
    if (!in) ok = 0;
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, world);
  if (!ok) error->all(FLERR, "pair unihub/mtp: cannot open the {} '{}'", what, path);
  long long n = (long long)text.size();
  MPI_Bcast(&n, 1, MPI_LONG_LONG, 0, world);
  text.resize((size_t)n);
  MPI_Bcast(&text[0], (int)n, MPI_CHAR, 0, world);
  return text;
}

void PairUnihubMTP::load(const char *path)
{
  const std::string text = read_all(path, ".mtp file");
  try {
    file_ = unihub::parse_mtp(text);
  } catch (const std::exception &e) {
    error->all(FLERR, "pair_coeff unihub/mtp: {}: {}", path, e.what());
  }
  file_.bind(model_);
  model_.floor_r.clear();
  if (!floor_path_.empty()) {
    const std::string table = read_all(floor_path_.c_str(), "core table");
    try {
      model_.floor_r = unihub::parse_floor(table, file_.elements, model_.floor_w);
    } catch (const std::exception &e) {
      error->all(FLERR, "pair_style unihub/mtp floor {}: {}", floor_path_, e.what());
    }
  }
  work_ = mtp::Work();
  loaded_ = true;
}

void PairUnihubMTP::coeff(int narg, char **arg)
{
  const int ntypes = atom->ntypes;
  if (narg != 3 + ntypes)
    error->all(FLERR, "pair_coeff unihub/mtp: expected 'pair_coeff * * file.mtp' and {} element names (one per atom "
               "type, NULL to leave a type out), got {} arguments", ntypes, narg);
  if (strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_coeff unihub/mtp: the first two arguments must be '* *'");
  if (!allocated) allocate();
  load(arg[2]);

  // Map type -> species by name when the file records its elements; otherwise the k-th distinct
  // name given here is species k (the file's own order), as MLIP's pair style assumes.
  std::vector<std::string> distinct;
  species_of_type_.assign(ntypes + 1, -1);
  for (int t = 1; t <= ntypes; ++t) {
    const std::string name = arg[2 + t];
    if (name == "NULL") continue;
    int s = -1;
    if (!file_.elements.empty()) {
      for (size_t k = 0; k < file_.elements.size(); ++k)
        if (file_.elements[k] == name) s = (int)k;
      if (s < 0) {
        std::string have;
        for (const auto &e : file_.elements) have += (have.empty() ? "" : ", ") + e;
        error->all(FLERR, "pair_coeff unihub/mtp: element {} (atom type {}) is not in {} (it has {})", name, t, arg[2],
                   have);
      }
    } else {
      for (size_t k = 0; k < distinct.size(); ++k)
        if (distinct[k] == name) s = (int)k;
      if (s < 0) {
        s = (int)distinct.size();
        distinct.push_back(name);
      }
      if (s >= file_.species_count)
        error->all(FLERR, "pair_coeff unihub/mtp: {} distinct elements given but {} has species_count={} and names no "
                   "elements", (int)distinct.size(), arg[2], file_.species_count);
    }
    species_of_type_[t] = s;
  }
  int count = 0;
  for (int i = 1; i <= ntypes; ++i)
    for (int j = i; j <= ntypes; ++j) {
      setflag[i][j] = (species_of_type_[i] >= 0 && species_of_type_[j] >= 0) ? 1 : 0;
      count += setflag[i][j];
    }
  if (count == 0) error->all(FLERR, "pair_coeff unihub/mtp: every atom type is NULL");
}

void PairUnihubMTP::init_style()
{
  if (!loaded_) error->all(FLERR, "pair_style unihub/mtp needs pair_coeff * * file.mtp <elements> first");
  if (atom->tag_enable == 0) error->all(FLERR, "pair_style unihub/mtp requires atom IDs");
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "pair_style unihub/mtp requires 'units metal' (MTP files are in eV and Angstrom)");
  neighbor->add_request(this, NeighConst::REQ_FULL);
}

double PairUnihubMTP::init_one(int /*i*/, int /*j*/) { return file_.max_dist; }

void PairUnihubMTP::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  double **x = atom->x;
  double **f = atom->f;
  const int *type = atom->type;
  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  const bool newton = force->newton_pair != 0;
  // with newton off LAMMPS clears only owned forces; the ghost slots are our scratch
  if (!newton)
    for (int i = nlocal; i < nall; ++i) f[i][0] = f[i][1] = f[i][2] = 0.0;

  const double rc2 = file_.max_dist * file_.max_dist;
  const int inum = list->inum;
  const int *ilist = list->ilist;
  const int *numneigh = list->numneigh;
  int **firstneigh = list->firstneigh;
  double vsum[6] = {0, 0, 0, 0, 0, 0};

  for (int ii = 0; ii < inum; ++ii) {
    const int i = ilist[ii];
    const int ti = species_of_type_[type[i]];
    if (ti < 0) continue;
    const int *jlist = firstneigh[i];
    const int jnum = numneigh[i];
    if ((int)nb_index_.size() < jnum) {
      nb_index_.resize(jnum); nb_species_.resize(jnum);
      nb_rv_.resize(3 * (size_t)jnum); nb_grad_.resize(3 * (size_t)jnum);
    }
    int nn = 0;
    const double xi = x[i][0], yi = x[i][1], zi = x[i][2];
    for (int jj = 0; jj < jnum; ++jj) {
      const int j = jlist[jj] & NEIGHMASK;
      const int tj = species_of_type_[type[j]];
      if (tj < 0) continue;
      const double dx = x[j][0] - xi, dy = x[j][1] - yi, dz = x[j][2] - zi;
      if (dx * dx + dy * dy + dz * dz >= rc2) continue;
      nb_index_[nn] = j;
      nb_species_[nn] = tj;
      nb_rv_[3 * nn] = dx; nb_rv_[3 * nn + 1] = dy; nb_rv_[3 * nn + 2] = dz;
      ++nn;
    }
    const double ei = mtp::site(model_, work_, ti, nn, nb_species_.data(), nb_rv_.data(), nb_grad_.data());
    if (eflag_global) eng_vdwl += ei;
    if (eflag_atom) eatom[i] += ei;
    double vi[6] = {0, 0, 0, 0, 0, 0};
    for (int k = 0; k < nn; ++k) {
      const double *g = &nb_grad_[3 * k];  // dE_i/dr_ij: +g on i, -g on j
      const int j = nb_index_[k];
      f[i][0] += g[0]; f[i][1] += g[1]; f[i][2] += g[2];
      f[j][0] -= g[0]; f[j][1] -= g[1]; f[j][2] -= g[2];
      if (vflag_either) {
        const double *r = &nb_rv_[3 * k];  // virial sum r_a f_b of the pair = -r_ij (x) g
        vi[0] -= r[0] * g[0]; vi[1] -= r[1] * g[1]; vi[2] -= r[2] * g[2];
        vi[3] -= r[0] * g[1]; vi[4] -= r[0] * g[2]; vi[5] -= r[1] * g[2];
      }
    }
    if (vflag_global)
      for (int a = 0; a < 6; ++a) vsum[a] += vi[a];
    if (vflag_atom)
      for (int a = 0; a < 6; ++a) vatom[i][a] += vi[a];
  }
  if (vflag_global)
    for (int a = 0; a < 6; ++a) virial[a] += vsum[a];
  if (!newton) comm->reverse_comm(this);
}

int PairUnihubMTP::pack_reverse_comm(int n, int first, double *buf)
{
  double **f = atom->f;
  int m = 0;
  for (int i = first; i < first + n; ++i) {
    buf[m++] = f[i][0]; buf[m++] = f[i][1]; buf[m++] = f[i][2];
  }
  return m;
}

void PairUnihubMTP::unpack_reverse_comm(int n, int *list_, double *buf)
{
  double **f = atom->f;
  int m = 0;
  for (int k = 0; k < n; ++k) {
    const int j = list_[k];
    f[j][0] += buf[m++]; f[j][1] += buf[m++]; f[j][2] += buf[m++];
  }
}

double PairUnihubMTP::memory_usage()
{
  double bytes = Pair::memory_usage();
  bytes += (double)nb_index_.capacity() * 2 * sizeof(int) + (double)nb_rv_.capacity() * 2 * sizeof(double);
  bytes += (double)(file_.radial.size() + file_.moment.size()) * sizeof(double);
  return bytes;
}
