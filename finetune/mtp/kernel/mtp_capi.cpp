// Thin C ABI over mtp_core.hpp for ctypes. Neighbour lists are CSR: for atom i, neighbours
// nb_off[i] .. nb_off[i+1]-1 with index nb_j[p] (into the types/forces arrays) and vector
// rv[3p..3p+2] = r_j - r_i. "Dataset" calls take many structures at once (atoms and pairs
// concatenated, nb_j global) and parallelise over structures, so results are deterministic.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "mtp_core.hpp"

namespace {

struct Handle {
  mtp::Model model;
  std::vector<double> radial, species, moment;
};

int max_neighbours(int n, const int64_t* nb_off) {
  int64_t mx = 0;
  for (int i = 0; i < n; ++i) mx = std::max(mx, nb_off[i + 1] - nb_off[i]);
  return (int)mx;
}

void gather_types(const int* types, const int64_t* nb_j, int64_t p0, int nn, std::vector<int>& tj) {
  tj.resize(nn);
  for (int k = 0; k < nn; ++k) tj[k] = types[nb_j[p0 + k]];
}

// The energy of site i; its pair gradients g go to the forces f (+ on the centre, - on each neighbour)
// and to the virial w[9] += dE/dr_a * r_b.
inline double site_forces(const mtp::Model& m, mtp::Work& work, const int* types, const int64_t* nb_off,
                          const int64_t* nb_j, const double* rv, int64_t i, std::vector<int>& tj, double* g,
                          double* f, double* w) {
  const int64_t p0 = nb_off[i];
  const int nn = (int)(nb_off[i + 1] - p0);
  gather_types(types, nb_j, p0, nn, tj);
  const double e = mtp::site(m, work, types[i], nn, tj.data(), rv + 3 * p0, g);
  for (int k = 0; k < nn; ++k) {
    const double* gk = &g[3 * k];
    const double* r = rv + 3 * (p0 + k);
    const int64_t j = nb_j[p0 + k];
    for (int a = 0; a < 3; ++a) {
      f[3 * i + a] += gk[a];
      f[3 * j + a] -= gk[a];
      for (int b = 0; b < 3; ++b) w[3 * a + b] += gk[a] * r[b];
    }
  }
  return e;
}

}  // namespace

extern "C" {

void* mtp_create(int ns, int nf, int nb, double rmin, double rcut, double scaling, int n_basic, const int* basic,
                 int n_times, const int* times, int n_scalar, const int* mapping, int n_alpha) {
  auto* h = new Handle();
  h->radial.assign((size_t)ns * ns * nf * nb, 0.0);
  h->species.assign(ns, 0.0);
  h->moment.assign(n_scalar, 0.0);
  h->model.init(ns, nf, nb, rmin, rcut, scaling, h->radial.data(), h->species.data(), h->moment.data(), n_basic,
                basic, n_times, times, n_scalar, mapping, n_alpha);
  return h;
}

void mtp_destroy(void* p) { delete static_cast<Handle*>(p); }

void mtp_set_params(void* p, const double* radial, const double* species, const double* moment) {
  auto* h = static_cast<Handle*>(p);
  std::copy(radial, radial + h->radial.size(), h->radial.begin());
  std::copy(species, species + h->species.size(), h->species.begin());
  std::copy(moment, moment + h->moment.size(), h->moment.begin());
}

// The radial functions' floor per species pair (floor[ns*ns], null: none) and its width (mtp_core.hpp `floored`).
void mtp_set_floor(void* p, const double* floor, double width) {
  auto* h = static_cast<Handle*>(p);
  const int ns = h->model.ns;
  if (floor) h->model.floor_r.assign(floor, floor + (size_t)ns * ns);
  else h->model.floor_r.clear();
  h->model.floor_w = width;
}

// One configuration (MD): site energies e[n], forces f[n_total*3] (zeroed here) and
// virial w[9] = sum_pairs dE/dr_a * r_b (stress * volume, ASE sign).
void mtp_compute(void* p, int n, int n_total, const int* types, const int64_t* nb_off, const int64_t* nb_j,
                 const double* rv, double* e, double* f, double* w, int nthreads) {
  const mtp::Model& m = static_cast<Handle*>(p)->model;
  const int maxnn = max_neighbours(n, nb_off);
  if (nthreads < 1) nthreads = 1;
  std::vector<double> fl((size_t)(nthreads - 1) * n_total * 3, 0.0);
  std::vector<double> wl((size_t)nthreads * 9, 0.0);
  std::memset(f, 0, sizeof(double) * (size_t)n_total * 3);
#pragma omp parallel num_threads(nthreads)
  {
    const int tid = omp_get_thread_num();
    double* ft = tid == 0 ? f : &fl[(size_t)(tid - 1) * n_total * 3];
    double* wt = &wl[(size_t)tid * 9];
    mtp::Work work;
    work.reserve(m, maxnn);
    std::vector<double> g((size_t)maxnn * 3);
    std::vector<int> tj;
#pragma omp for schedule(dynamic, 64)
    for (int i = 0; i < n; ++i) e[i] = site_forces(m, work, types, nb_off, nb_j, rv, i, tj, g.data(), ft, wt);
  }
  for (int t = 1; t < nthreads; ++t) {
    const double* src = &fl[(size_t)(t - 1) * n_total * 3];
    for (size_t k = 0; k < (size_t)n_total * 3; ++k) f[k] += src[k];
  }
  for (int a = 0; a < 9; ++a) {
    w[a] = 0.0;
    for (int t = 0; t < nthreads; ++t) w[a] += wl[(size_t)t * 9 + a];
  }
}

// Many structures: energies e[S], forces f[N*3], virials w[S*9].
void mtp_efs_dataset(void* p, int S, const int64_t* atom_off, const int* types, const int64_t* nb_off,
                     const int64_t* nb_j, const double* rv, double* e, double* f, double* w, int nthreads) {
  const mtp::Model& m = static_cast<Handle*>(p)->model;
  const int maxnn = max_neighbours((int)atom_off[S], nb_off);
  std::memset(f, 0, sizeof(double) * (size_t)atom_off[S] * 3);
#pragma omp parallel num_threads(std::max(1, nthreads))
  {
    mtp::Work work;
    work.reserve(m, maxnn);
    std::vector<double> g((size_t)maxnn * 3);
    std::vector<int> tj;
#pragma omp for schedule(dynamic, 1)
    for (int s = 0; s < S; ++s) {
      double es = 0.0, ws[9] = {0};
      for (int64_t i = atom_off[s]; i < atom_off[s + 1]; ++i)
        es += site_forces(m, work, types, nb_off, nb_j, rv, i, tj, g.data(), f, ws);
      e[s] = es;
      std::memcpy(w + 9 * s, ws, sizeof ws);
    }
  }
}

// Per-structure parameter gradients of a*E + dE[tangent]; the tangent of pair (i, j) is
// v[j] - v[i] + strain[s] . r_ij (force and stress residual directions). out[S * n_params] is
// laid out as species (ns), moment (n_scalar), radial (ns*ns*nf*nb).
void mtp_grad_dataset(void* p, int S, const int64_t* atom_off, const int* types, const int64_t* nb_off,
                      const int64_t* nb_j, const double* rv, const double* v, const double* strain, const double* a,
                      double* out, int nthreads) {
  const mtp::Model& m = static_cast<Handle*>(p)->model;
  const int maxnn = max_neighbours((int)atom_off[S], nb_off);
  const size_t np = (size_t)m.ns + m.n_scalar + (size_t)m.ns * m.ns * m.nf * m.nb;
  std::memset(out, 0, sizeof(double) * np * S);
#pragma omp parallel num_threads(std::max(1, nthreads))
  {
    mtp::Work work;
    work.reserve(m, maxnn);
    std::vector<int> tj;
    std::vector<double> tv((size_t)maxnn * 3);
#pragma omp for schedule(dynamic, 1)
    for (int s = 0; s < S; ++s) {
      double* o = out + np * s;
      const double* e = strain + 9 * s;
      for (int64_t i = atom_off[s]; i < atom_off[s + 1]; ++i) {
        const int64_t p0 = nb_off[i];
        const int nn = (int)(nb_off[i + 1] - p0);
        gather_types(types, nb_j, p0, nn, tj);
        for (int k = 0; k < nn; ++k) {
          const int64_t j = nb_j[p0 + k];
          const double* r = rv + 3 * (p0 + k);
          for (int x = 0; x < 3; ++x)
            tv[3 * k + x] = v[3 * j + x] - v[3 * i + x] + e[3 * x] * r[0] + e[3 * x + 1] * r[1] + e[3 * x + 2] * r[2];
        }
        mtp::site_param_grad(m, work, types[i], nn, tj.data(), rv + 3 * p0, tv.data(), a[s], o, o + m.ns,
                             o + m.ns + m.n_scalar);
      }
    }
  }
}

// Scalar moments for linear fitting: per-atom B[N*n_scalar]; if dB is not null, the force
// design dB[N*3*n_scalar] (d sum_i B_i / d x_k, layout [k][x][q]) and virial design
// wB[S*9*n_scalar] ([s][a*3+b][q]).
void mtp_basis_dataset(void* p, int S, const int64_t* atom_off, const int* types, const int64_t* nb_off,
                       const int64_t* nb_j, const double* rv, double* B, double* dB, double* wB, int nthreads) {
  const mtp::Model& m = static_cast<Handle*>(p)->model;
  const int maxnn = max_neighbours((int)atom_off[S], nb_off);
  const int nq = m.n_scalar;
  if (dB) {
    std::memset(dB, 0, sizeof(double) * (size_t)atom_off[S] * 3 * nq);
    std::memset(wB, 0, sizeof(double) * (size_t)S * 9 * nq);
  }
#pragma omp parallel num_threads(std::max(1, nthreads))
  {
    mtp::Work work;
    work.reserve(m, maxnn);
    std::vector<double> g(dB ? (size_t)maxnn * 3 * nq : 0);
    std::vector<int> tj;
#pragma omp for schedule(dynamic, 1)
    for (int s = 0; s < S; ++s) {
      for (int64_t i = atom_off[s]; i < atom_off[s + 1]; ++i) {
        const int64_t p0 = nb_off[i];
        const int nn = (int)(nb_off[i + 1] - p0);
        gather_types(types, nb_j, p0, nn, tj);
        mtp::site_basis(m, work, types[i], nn, tj.data(), rv + 3 * p0, B + (size_t)i * nq, dB ? g.data() : nullptr);
        if (!dB) continue;
        double* ws = wB + (size_t)9 * nq * s;
        for (int k = 0; k < nn; ++k) {
          const int64_t j = nb_j[p0 + k];
          const double* r = rv + 3 * (p0 + k);
          for (int q = 0; q < nq; ++q) {
            const double* gk = &g[((size_t)k * nq + q) * 3];
            for (int a = 0; a < 3; ++a) {
              dB[((size_t)j * 3 + a) * nq + q] += gk[a];
              dB[((size_t)i * 3 + a) * nq + q] -= gk[a];
              for (int b = 0; b < 3; ++b) ws[(size_t)(3 * a + b) * nq + q] += gk[a] * r[b];
            }
          }
        }
      }
    }
  }
}

}  // extern "C"
