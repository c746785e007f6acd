// Moment Tensor Potential core: site energies and their derivatives from per-atom neighbour
// arrays. Header-only and free of Python so that a LAMMPS pair style can include it as is.
//
// Conventions (MLIP-2): for a neighbour at vector r (|r| = d < rcut) of type tj around a centre
// of type ti, the radial functions are
//   f_mu(d) = sum_b c[ti][tj][mu][b] * T_b(s) * scaling * (rcut - d)^2,  s = (2d - rmin - rcut)/(rcut - rmin)
// with Chebyshev T_b; the basic moments are M_k = sum_j f_{mu_k}(d_j) * u^(a_k, b_k, c_k), u = r/d;
// alpha_index_times builds the scalar moments B, and E_i = species[ti] + sum_q moment[q] * B_{map q}.
// With a floor (Model::floor_r, optional), the radial functions of a (ti, tj) pair closer than floor_r[ti][tj]
// see the floored distance of `floored` instead of d; the angular part always sees the true direction.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace mtp {

// x86-64: site() is compiled twice, for AVX2+FMA and for the baseline, and the loader picks the
// one the CPU runs (GCC/Clang function multiversioning), so a cached build stays portable.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(MTP_NO_CLONES)
#define MTP_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define MTP_SIMD_CLONES
#endif

constexpr int kLanes = 4;  // doubles per SIMD group in the energy/force path (AVX2 width)
#if !defined(__GNUC__)
#error "mtp_core.hpp needs GCC or Clang (GNU vector extensions)"
#endif
// GNU vector type: one ymm register under AVX2, two xmm otherwise; aligned(8) allows unaligned rows
typedef double v4d __attribute__((vector_size(32), aligned(8)));
// the same with its natural 32-byte alignment: template arguments drop the attribute above, so what a
// template reads through a pointer must be 32-byte aligned
typedef double v4a __attribute__((vector_size(32)));
// row access as lane groups; macros, not functions, so no vector crosses a call boundary (ABI)
#define MTP_V(p) (*reinterpret_cast<v4d*>(p))
#define MTP_CV(p) (*reinterpret_cast<const v4d*>(p))

struct Times {
  int i, j, out;
  double mult;
};

// Parameters and contraction plan. Pointers are borrowed; the owner keeps them alive.
struct Model {
  int ns = 0, nf = 0, nb = 0;  // species, radial functions, radial basis size
  double rmin = 0, rcut = 0, scaling = 1;
  const double* radial = nullptr;   // [ns][ns][nf][nb]
  const double* species = nullptr;  // [ns]
  const double* moment = nullptr;   // [n_scalar]
  // per species pair, the shortest distance the radial functions were fitted on ([ns][ns]; empty: no floor) and
  // the width of the saturation below it
  std::vector<double> floor_r;
  double floor_w = 0.1;
  int n_basic = 0, n_alpha = 0, n_scalar = 0;
  std::vector<int> basic_mu, basic_mono;  // per basic alpha: radial function, monomial index
  std::vector<Times> times;
  // consecutive times entries with the same output: summed in a register, not through memory
  struct Run { int out, begin, end; };
  std::vector<Run> runs;
  std::vector<int> mapping;
  // monomial table u^(a,b,c) for a+b+c <= max_deg, and where its partial derivatives live
  int max_deg = 0, n_mono = 0;
  std::vector<int> ma, mb, mc, mdeg, dx, dy, dz;  // dx: index of (a-1,b,c), or n_mono (a zero slot)
  std::vector<int> mpar, maxis;  // monomial q = monomial mpar[q] times u[maxis[q]] (q >= 1)
  std::vector<double> fa, fb, fc, fdeg;           // the same powers as doubles for branch-free loops
  // basic alphas come in runs that share mu and walk consecutive monomials (always so in MLIP
  // files); looping over runs keeps the per-neighbour work contiguous and vectorisable
  struct Block { int mu, start, len, mono0; };
  std::vector<Block> blocks;

  void init(int ns_, int nf_, int nb_, double rmin_, double rcut_, double scaling_, const double* radial_,
            const double* species_, const double* moment_, int n_basic_, const int* basic /*[n][4]*/,
            int n_times, const int* times_ /*[n][4]*/, int n_scalar_, const int* mapping_, int n_alpha_) {
    ns = ns_; nf = nf_; nb = nb_; rmin = rmin_; rcut = rcut_; scaling = scaling_;
    radial = radial_; species = species_; moment = moment_;
    n_basic = n_basic_; n_scalar = n_scalar_; n_alpha = n_alpha_;
    max_deg = 0;
    for (int k = 0; k < n_basic; ++k) {
      int d = basic[4 * k + 1] + basic[4 * k + 2] + basic[4 * k + 3];
      if (d > max_deg) max_deg = d;
    }
    ma.clear(); mb.clear(); mc.clear(); mdeg.clear();
    std::vector<int> lookup((max_deg + 1) * (max_deg + 1) * (max_deg + 1), -1);
    auto key = [&](int a, int b, int c) { return (a * (max_deg + 1) + b) * (max_deg + 1) + c; };
    for (int d = 0; d <= max_deg; ++d)
      for (int a = d; a >= 0; --a)
        for (int b = d - a; b >= 0; --b) {
          int c = d - a - b;
          lookup[key(a, b, c)] = (int)ma.size();
          ma.push_back(a); mb.push_back(b); mc.push_back(c); mdeg.push_back(d);
        }
    n_mono = (int)ma.size();
    dx.assign(n_mono, n_mono); dy.assign(n_mono, n_mono); dz.assign(n_mono, n_mono);
    for (int m = 0; m < n_mono; ++m) {
      if (ma[m]) dx[m] = lookup[key(ma[m] - 1, mb[m], mc[m])];
      if (mb[m]) dy[m] = lookup[key(ma[m], mb[m] - 1, mc[m])];
      if (mc[m]) dz[m] = lookup[key(ma[m], mb[m], mc[m] - 1)];
    }
    mpar.assign(n_mono, 0); maxis.assign(n_mono, 0);
    for (int q = 1; q < n_mono; ++q) {
      const int ax = ma[q] ? 0 : (mb[q] ? 1 : 2);
      mpar[q] = ax == 0 ? dx[q] : (ax == 1 ? dy[q] : dz[q]);
      maxis[q] = ax;
    }
    fa.assign(ma.begin(), ma.end()); fb.assign(mb.begin(), mb.end());
    fc.assign(mc.begin(), mc.end()); fdeg.assign(mdeg.begin(), mdeg.end());
    basic_mu.resize(n_basic); basic_mono.resize(n_basic);
    for (int k = 0; k < n_basic; ++k) {
      basic_mu[k] = basic[4 * k];
      basic_mono[k] = lookup[key(basic[4 * k + 1], basic[4 * k + 2], basic[4 * k + 3])];
    }
    blocks.clear();
    for (int k = 0; k < n_basic; ++k) {
      if (!blocks.empty()) {
        Block& b = blocks.back();
        if (b.mu == basic_mu[k] && b.start + b.len == k && b.mono0 + b.len == basic_mono[k]) { ++b.len; continue; }
      }
      blocks.push_back({basic_mu[k], k, 1, basic_mono[k]});
    }
    times.resize(n_times);
    for (int t = 0; t < n_times; ++t)
      times[t] = {times_[4 * t], times_[4 * t + 1], times_[4 * t + 3], (double)times_[4 * t + 2]};
    runs.clear();
    for (int t = 0; t < n_times; ++t) {
      if (runs.empty() || runs.back().out != times[t].out) runs.push_back({times[t].out, t, t});
      runs.back().end = t + 1;
    }
    mapping.assign(mapping_, mapping_ + n_scalar);
  }
};

// Per-thread scratch, sized for the largest neighbourhood seen.
struct Work {
  std::vector<double> val, adj, dot, lam, eta;  // per alpha
  std::vector<double> f, df, mono, phi, dphi, ur;  // per neighbour blocks
  std::vector<double> A, B, pw, mdots, gmono, dot3;
  // energy/force path: neighbour-innermost arrays, np_cap lanes per row
  std::vector<double> su, sd, sf, sdf, smono, sH, sG, sgu, smask, sphi;
  std::vector<double> sdr, sgf;  // with a floor: floored distances and their derivatives
  // parameter-gradient path: tangent rows dU/dt (3) and u.t, monomial tangents, basis rows, dPhi/df'
  std::vector<double> sw, srd, smt, sP, sDP, sGB;
  std::vector<const double*> scoef;
  int cap = 0, np_cap = 0;
  void reserve(const Model& m, int nn) {
    if ((int)val.size() != m.n_alpha) {
      val.assign(m.n_alpha, 0); adj.assign(m.n_alpha, 0); dot.assign(m.n_alpha, 0);
      lam.assign(m.n_alpha, 0); eta.assign(m.n_alpha, 0);
      A.assign(m.nf, 0); B.assign(m.nf, 0);
      pw.assign(3 * (m.max_deg + 1), 0);
      cap = 0;
    }
    if (nn > cap) {
      cap = nn;
      f.resize((size_t)nn * m.nf); df.resize((size_t)nn * m.nf); mono.resize((size_t)nn * (m.n_mono + 1));
      mdots.resize((size_t)nn * (m.n_mono + 1)); gmono.resize((size_t)3 * (m.n_mono + 1));
      phi.resize((size_t)nn * m.nb); dphi.resize((size_t)nn * m.nb); ur.resize((size_t)nn * 4);
    }
  }
  void reserve_grad_lanes(const Model& m, int np) {
    reserve_lanes(m, np);
    const size_t n = np_cap;
    if (smt.size() != (size_t)m.n_mono * n || sP.size() != (size_t)m.nb * n || sGB.size() != (size_t)m.nf * n) {
      sw.resize(3 * n); srd.resize(n); smt.resize((size_t)m.n_mono * n);
      sP.resize((size_t)m.nb * n); sDP.resize((size_t)m.nb * n); sGB.resize((size_t)m.nf * n);
    }
  }
  void reserve_lanes(const Model& m, int np) {
    if ((int)val.size() != m.n_alpha) { reserve(m, 0); np_cap = 0; }
    if (np > np_cap || (int)smono.size() != np_cap * m.n_mono || (int)sf.size() != np_cap * m.nf ||
        (int)sphi.size() != 2 * kLanes * m.nb + kLanes) {
      np_cap = std::max(np, np_cap);
      su.resize((size_t)3 * np_cap); sd.resize(np_cap); sgu.resize((size_t)3 * np_cap);
      sdr.resize(np_cap); sgf.resize(np_cap);
      smask.resize(np_cap); scoef.resize(np_cap); sphi.resize((size_t)2 * kLanes * m.nb + kLanes);
      sf.resize((size_t)m.nf * np_cap); sdf.resize((size_t)m.nf * np_cap); sG.resize((size_t)m.nf * np_cap);
      smono.resize((size_t)m.n_mono * np_cap); sH.resize((size_t)m.n_mono * np_cap);
    }
  }
};

// The first n entries of a scratch buffer set to zero, for a pass that accumulates into them.
inline double* zeroed(std::vector<double>& buf, size_t n) {
  std::fill(buf.begin(), buf.begin() + n, 0.0);
  return buf.data();
}

// The distance a (ti, tj) pair's radial functions see: d at or above the pair's floor c; below it
// c - w (1 - exp((d - c) / w)), which is C1 at c and never falls under c - w, so a pair pushed closer than any
// training pair meets no polynomial extrapolation (a Chebyshev series grows without bound outside its range).
// g = d(floored)/dd.
inline double floored(const Model& m, int ti, int tj, double d, double& g) {
  g = 1.0;
  if (m.floor_r.empty()) return d;
  const double c = m.floor_r[(size_t)ti * m.ns + tj];
  if (d >= c) return d;
  g = std::exp((d - c) / m.floor_w);
  return c - m.floor_w * (1.0 - g);
}

// Radial basis phi_b(d) (Chebyshev times the cutoff factor) and derivatives, for one distance
// (V = double) or a lane group of four (V = v4a); always inlined, so a vector never crosses a call.
template <class V>
__attribute__((always_inline)) inline void radial_basis(const Model& m, const V& d, V* phi, V* dphi) {
  const double w = 1.0 / (m.rcut - m.rmin), ds = 2.0 * w;
  const V s = (2.0 * d - (m.rmin + m.rcut)) * w;
  const V rc = m.rcut - d;
  const V cut = m.scaling * rc * rc, dcut = -2.0 * m.scaling * rc;
  V t0 = V{} + 1.0, t1 = s, d0 = V{}, d1 = V{} + ds;
  phi[0] = t0 * cut; dphi[0] = t0 * dcut;
  if (m.nb > 1) { phi[1] = t1 * cut; dphi[1] = d1 * cut + t1 * dcut; }
  for (int b = 2; b < m.nb; ++b) {
    const V t2 = 2.0 * s * t1 - t0, d2 = 2.0 * (ds * t1 + s * d1) - d0;
    phi[b] = t2 * cut; dphi[b] = d2 * cut + t2 * dcut;
    t0 = t1; t1 = t2; d0 = d1; d1 = d2;
  }
}

// f_mu and f'_mu of a lane group of four pairs: each pair's radial coefficients (c[lane], the block of its
// species pair) on the basis phi, dphi; `one` when the four share a block (always so for one element)
__attribute__((always_inline)) inline void radial_function(const Model& m, const double* const* c, bool one, int mu,
                                                            const v4a* phi, const v4a* dphi, v4d& f, v4d& df) {
  f = v4d{0, 0, 0, 0};
  df = f;
  for (int k = 0; k < m.nb; ++k) {
    const int q = mu * m.nb + k;
    const v4d cq = one ? v4d{c[0][q], c[0][q], c[0][q], c[0][q]} : v4d{c[0][q], c[1][q], c[2][q], c[3][q]};
    f += cq * phi[k];
    df += cq * dphi[k];
  }
}

// the radial basis of lane group j (pairs j..j+3 at floored distances dd, d dd/dd_true in gf, nullptr without a
// floor) into phi, dphi; returns whether its four pairs share one block of radial coefficients cl (always so for
// one element)
__attribute__((always_inline)) inline bool lane_basis(const Model& m, const double* dd, const double* gf,
                                                      const double* const* cl, int j, v4a* phi, v4a* dphi) {
  const v4a dj = MTP_CV(dd + j);
  radial_basis(m, dj, phi, dphi);
  if (gf) {
    const v4a g = MTP_CV(gf + j);
    for (int b = 0; b < m.nb; ++b) dphi[b] *= g;
  }
  return cl[j] == cl[j + 1] && cl[j] == cl[j + 2] && cl[j] == cl[j + 3];
}

// scratch for the radial basis of one lane group, then its derivatives, on a 32-byte boundary inside sphi
inline v4a* lane_scratch(Work& w) {
  const size_t skip = (32 - reinterpret_cast<uintptr_t>(w.sphi.data()) % 32) % 32 / sizeof(double);
  return reinterpret_cast<v4a*>(w.sphi.data() + skip);
}

inline void monomials(const Model& m, double ux, double uy, double uz, double* pw, double* mono) {
  const int D = m.max_deg + 1;
  double* px = pw; double* py = pw + D; double* pz = pw + 2 * D;
  px[0] = py[0] = pz[0] = 1.0;
  for (int k = 1; k < D; ++k) { px[k] = px[k - 1] * ux; py[k] = py[k - 1] * uy; pz[k] = pz[k - 1] * uz; }
  for (int q = 0; q < m.n_mono; ++q) mono[q] = px[m.ma[q]] * py[m.mb[q]] * pz[m.mc[q]];
  mono[m.n_mono] = 0.0;  // target of dx/dy/dz for absent lower monomials
}

// d mono_q / dt along a neighbour-vector tangent t (rdot = u.t), times the distance d.
inline void mono_tangent(const Model& m, const double* mono, const double* t, double rdot, double* md) {
  for (int q = 0; q < m.n_mono; ++q)
    md[q] = m.fa[q] * mono[m.dx[q]] * t[0] + m.fb[q] * mono[m.dy[q]] * t[1] + m.fc[q] * mono[m.dz[q]] * t[2] -
            m.fdeg[q] * mono[q] * rdot;
  md[m.n_mono] = 0.0;
}

// Forward pass for one site: fills w.val (all alphas) and per-neighbour f, df, mono, phi, dphi, ur.
// Neighbours at or beyond rcut are flagged with ur[4j+3] = 0 and contribute nothing.
inline void forward(const Model& m, Work& w, int ti, int nn, const int* tj, const double* rv) {
  w.reserve(m, nn);
  std::fill(w.val.begin(), w.val.end(), 0.0);
  double* val = w.val.data();
  for (int j = 0; j < nn; ++j) {
    const double x = rv[3 * j], y = rv[3 * j + 1], z = rv[3 * j + 2];
    const double d = std::sqrt(x * x + y * y + z * z);
    double* ur = &w.ur[4 * j];
    if (d >= m.rcut || d <= 0.0) { ur[3] = 0.0; continue; }
    ur[0] = x / d; ur[1] = y / d; ur[2] = z / d; ur[3] = d;
    double* phi = &w.phi[(size_t)j * m.nb];
    double* dphi = &w.dphi[(size_t)j * m.nb];
    double g;
    radial_basis(m, floored(m, ti, tj[j], d, g), phi, dphi);
    if (g != 1.0)
      for (int k = 0; k < m.nb; ++k) dphi[k] *= g;
    const double* c = m.radial + ((size_t)ti * m.ns + tj[j]) * m.nf * m.nb;
    double* f = &w.f[(size_t)j * m.nf];
    double* df = &w.df[(size_t)j * m.nf];
    for (int mu = 0; mu < m.nf; ++mu) {
      double a = 0, b = 0;
      for (int k = 0; k < m.nb; ++k) { a += c[mu * m.nb + k] * phi[k]; b += c[mu * m.nb + k] * dphi[k]; }
      f[mu] = a; df[mu] = b;
    }
    double* mono = &w.mono[(size_t)j * (m.n_mono + 1)];
    monomials(m, ur[0], ur[1], ur[2], w.pw.data(), mono);
    for (const Model::Block& b : m.blocks) {
      const double fm = f[b.mu];
      double* v = val + b.start;
      const double* mo = mono + b.mono0;
      for (int q = 0; q < b.len; ++q) v[q] += fm * mo[q];
    }
  }
  for (const Times& t : m.times) val[t.out] += t.mult * val[t.i] * val[t.j];
}

// Site energy and dE_i/dr_ij for each neighbour (r_ij = r_j - r_i). Returns E_i.
// MD spends its time here, so this path keeps the neighbour index innermost (rows of np lanes, np
// = nn rounded up to 4) and runs every per-neighbour loop on lane groups of four (GNU vectors);
// the fitting paths below use forward()'s per-neighbour layout instead. Monomials are built as
// parent monomial times one component of u, and the force goes back through that same chain.
MTP_SIMD_CLONES
inline double site(const Model& m, Work& w, int ti, int nn, const int* tj, const double* rv, double* grad) {
  const int np = (nn + kLanes - 1) / kLanes * kLanes;
  w.reserve_lanes(m, np);
  const int NP = w.np_cap;
  double* u = w.su.data();  // rows ux, uy, uz
  double* dd = w.sd.data();
  double* F = w.sf.data();
  double* DF = w.sdf.data();
  double* M = w.smono.data();
  const double** cl = w.scoef.data();
  double* mask = w.smask.data();
  const bool floor = !m.floor_r.empty();
  double* dr = floor ? w.sdr.data() : dd;  // the distances the radial functions see
  double* gf = floor ? w.sgf.data() : nullptr;
  for (int j = 0; j < np; ++j) {
    if (j < nn) {
      const double x = rv[3 * j], y = rv[3 * j + 1], z = rv[3 * j + 2];
      const double d = std::sqrt(x * x + y * y + z * z);
      if (d > 0.0 && d < m.rcut) {
        u[j] = x / d; u[NP + j] = y / d; u[2 * NP + j] = z / d; dd[j] = d;
        if (floor) dr[j] = floored(m, ti, tj[j], d, gf[j]);
        cl[j] = m.radial + ((size_t)ti * m.ns + tj[j]) * m.nf * m.nb;
        mask[j] = 1.0;
        continue;
      }
    }
    // padding and neighbours outside the cutoff: f = f' = 0 makes every contribution vanish
    u[j] = u[NP + j] = u[2 * NP + j] = 0.0; dd[j] = 1.0;
    if (floor) { dr[j] = 1.0; gf[j] = 1.0; }
    cl[j] = m.radial;
    mask[j] = 0.0;
  }
  // radial functions, a lane group at a time
  v4a* phi = lane_scratch(w);
  v4a* dphi = phi + m.nb;
  for (int j = 0; j < np; j += kLanes) {
    const bool one = lane_basis(m, dr, gf, cl, j, phi, dphi);
    const v4d mk = MTP_CV(mask + j);
    for (int mu = 0; mu < m.nf; ++mu) {
      v4d a, b;
      radial_function(m, cl + j, one, mu, phi, dphi, a, b);
      MTP_V(F + (size_t)mu * NP + j) = a * mk;
      MTP_V(DF + (size_t)mu * NP + j) = b * mk;
    }
  }
  for (int j = 0; j < np; ++j) M[j] = 1.0;
  for (int q = 1; q < m.n_mono; ++q) {
    const double* P = M + (size_t)m.mpar[q] * NP;
    const double* U = u + (size_t)m.maxis[q] * NP;
    double* Q = M + (size_t)q * NP;
    for (int j = 0; j < np; j += kLanes) MTP_V(Q + j) = MTP_CV(P + j) * MTP_CV(U + j);
  }
  double* val = w.val.data();
  std::fill(w.val.begin(), w.val.end(), 0.0);
  for (const Model::Block& b : m.blocks) {
    const double* f = F + (size_t)b.mu * NP;
    for (int q = 0; q < b.len; ++q) {
      const double* mo = M + (size_t)(b.mono0 + q) * NP;
      v4d acc = {0, 0, 0, 0};
      for (int j = 0; j < np; j += kLanes) acc += MTP_CV(f + j) * MTP_CV(mo + j);
      val[b.start + q] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
  }
  for (const Model::Run& r : m.runs) {
    double acc = 0.0;
    for (int t = r.begin; t < r.end; ++t) acc += m.times[t].mult * val[m.times[t].i] * val[m.times[t].j];
    val[r.out] += acc;
  }
  double e = m.species[ti];
  double* adj = zeroed(w.adj, w.adj.size());
  for (int q = 0; q < m.n_scalar; ++q) {
    e += m.moment[q] * val[m.mapping[q]];
    adj[m.mapping[q]] += m.moment[q];
  }
  if (!grad) return e;
  // adj[out] is final when its run is reached: every use of out comes later in the list
  for (auto r = m.runs.rbegin(); r != m.runs.rend(); ++r) {
    const double a = adj[r->out];
    if (a == 0.0) continue;
    for (int t = r->begin; t < r->end; ++t) {
      const Times& x = m.times[t];
      const double g = x.mult * a;
      adj[x.i] += g * val[x.j];
      adj[x.j] += g * val[x.i];
    }
  }
  // H = dE/d mono, G = dE/d f, per neighbour
  double* H = zeroed(w.sH, (size_t)m.n_mono * NP);
  double* G = zeroed(w.sG, (size_t)m.nf * NP);
  for (const Model::Block& b : m.blocks) {
    const double* a = adj + b.start;
    for (int j = 0; j < np; j += kLanes) {  // one lane group at a time, dE/df kept in a register
      const v4d f = MTP_CV(F + (size_t)b.mu * NP + j);
      v4d g = {0, 0, 0, 0};
      for (int q = 0; q < b.len; ++q) {
        const size_t row = (size_t)(b.mono0 + q) * NP + j;
        MTP_V(H + row) = MTP_CV(H + row) + a[q] * f;
        g += a[q] * MTP_CV(M + row);
      }
      double* gg = G + (size_t)b.mu * NP + j;
      MTP_V(gg) = MTP_CV(gg) + g;
    }
  }
  // back through the monomial chain (children before parents): dE/du, u treated as free
  double* gu = zeroed(w.sgu, (size_t)3 * NP);
  for (int q = m.n_mono - 1; q >= 1; --q) {
    const double* h = H + (size_t)q * NP;
    double* hp = H + (size_t)m.mpar[q] * NP;
    const double* P = M + (size_t)m.mpar[q] * NP;
    const double* U = u + (size_t)m.maxis[q] * NP;
    double* g = gu + (size_t)m.maxis[q] * NP;
    for (int j = 0; j < np; j += kLanes) {
      const v4d hj = MTP_CV(h + j);
      MTP_V(hp + j) = MTP_CV(hp + j) + hj * MTP_CV(U + j);
      MTP_V(g + j) = MTP_CV(g + j) + hj * MTP_CV(P + j);
    }
  }
  // u = r/d: dE/dr = (dE/dd) u + (I - u u^T) dE/du / d
  for (int j = 0; j < nn; ++j) {
    double radial = 0.0;
    for (int mu = 0; mu < m.nf; ++mu) radial += G[mu * NP + j] * DF[mu * NP + j];
    const double ux = u[j], uy = u[NP + j], uz = u[2 * NP + j];
    const double gx = gu[j], gy = gu[NP + j], gz = gu[2 * NP + j];
    const double inv = 1.0 / dd[j], s = radial - (gx * ux + gy * uy + gz * uz) * inv;
    grad[3 * j] = s * ux + gx * inv;
    grad[3 * j + 1] = s * uy + gy * inv;
    grad[3 * j + 2] = s * uz + gz * inv;
  }
  return e;
}

// Scalar moments B_q of a site (for linear fitting and the extrapolation grade) and, if dB is
// given, dB_q/dr_ij laid out as dB[(j * n_scalar + q) * 3 + x]. Derivatives use forward mode:
// three tangents per neighbour through alpha_index_times, cheaper than one reverse sweep per B_q.
inline void site_basis(const Model& m, Work& w, int ti, int nn, const int* tj, const double* rv, double* B,
                       double* dB) {
  forward(m, w, ti, nn, tj, rv);
  for (int q = 0; q < m.n_scalar; ++q) B[q] = w.val[m.mapping[q]];
  if (!dB) return;
  const int NM = m.n_mono + 1;
  w.dot3.resize((size_t)3 * m.n_alpha);
  double* d3 = w.dot3.data();
  const double* val = w.val.data();
  double* gm = w.gmono.data();  // [3][NM]: d mono / d r along x, y, z
  for (int j = 0; j < nn; ++j) {
    const double* ur = &w.ur[4 * j];
    double* o = dB + (size_t)j * m.n_scalar * 3;
    if (ur[3] == 0.0) { std::fill(o, o + (size_t)m.n_scalar * 3, 0.0); continue; }
    const double inv = 1.0 / ur[3];
    const double* f = &w.f[(size_t)j * m.nf];
    const double* df = &w.df[(size_t)j * m.nf];
    const double* mono = &w.mono[(size_t)j * NM];
    for (int a = 0; a < 3; ++a) {
      double e[3] = {0, 0, 0};
      e[a] = 1.0;
      mono_tangent(m, mono, e, ur[a], gm + a * NM);
      for (int q = 0; q < NM; ++q) gm[a * NM + q] *= inv;
    }
    std::fill(d3, d3 + (size_t)3 * m.n_alpha, 0.0);
    for (const Model::Block& b : m.blocks) {
      const double fm = f[b.mu], dfm = df[b.mu];
      for (int q = 0; q < b.len; ++q) {
        const int mq = b.mono0 + q;
        double* d = d3 + 3 * (b.start + q);
        for (int a = 0; a < 3; ++a) d[a] = dfm * ur[a] * mono[mq] + fm * gm[a * NM + mq];
      }
    }
    for (const Times& t : m.times) {
      const double vi = t.mult * val[t.i], vj = t.mult * val[t.j];
      double* d = d3 + 3 * t.out;
      const double* di = d3 + 3 * t.i;
      const double* dj = d3 + 3 * t.j;
      d[0] += di[0] * vj + vi * dj[0];
      d[1] += di[1] * vj + vi * dj[1];
      d[2] += di[2] * vj + vi * dj[2];
    }
    for (int q = 0; q < m.n_scalar; ++q)
      for (int a = 0; a < 3; ++a) o[3 * q + a] = d3[3 * m.mapping[q] + a];
  }
}

// Parameter gradient of Phi_i = a * E_i + dE_i[v], the energy plus its directional derivative
// along per-neighbour tangents tv (d r_ij / dt). Summed over sites and structures, with a and tv
// taken from the current residuals, this is the gradient of a weighted energy/force/stress loss.
// Accumulates into g_species[ns], g_moment[n_scalar], g_radial[ns*ns*nf*nb].
// Fitting spends its time here: like site(), every per-neighbour loop runs on lane groups of four
// neighbours (rows of np lanes); the alpha_index_times sweeps are per site and stay scalar.
MTP_SIMD_CLONES
inline void site_param_grad(const Model& m, Work& w, int ti, int nn, const int* tj, const double* rv,
                            const double* tv, double a, double* g_species, double* g_moment, double* g_radial) {
  const int np = (nn + kLanes - 1) / kLanes * kLanes;
  w.reserve_grad_lanes(m, np);
  const int NP = w.np_cap;
  double* u = w.su.data();    // rows ux, uy, uz
  double* W = w.sw.data();    // rows d u / dt = (t - u (u.t)) / d
  double* rd = w.srd.data();  // u.t = d |r| / dt
  double* dd = w.sd.data();
  double* mask = w.smask.data();
  const double** cl = w.scoef.data();
  const bool floor = !m.floor_r.empty();
  double* gf = floor ? w.sgf.data() : nullptr;
  for (int j = 0; j < np; ++j) {
    if (j < nn) {
      const double x = rv[3 * j], y = rv[3 * j + 1], z = rv[3 * j + 2];
      const double d = std::sqrt(x * x + y * y + z * z);
      if (d > 0.0 && d < m.rcut) {
        const double ux = x / d, uy = y / d, uz = z / d, inv = 1.0 / d;
        const double* t = tv + 3 * j;
        const double r = ux * t[0] + uy * t[1] + uz * t[2];
        u[j] = ux; u[NP + j] = uy; u[2 * NP + j] = uz; rd[j] = r;
        dd[j] = floor ? floored(m, ti, tj[j], d, gf[j]) : d;  // only the radial functions read dd here
        W[j] = (t[0] - ux * r) * inv; W[NP + j] = (t[1] - uy * r) * inv; W[2 * NP + j] = (t[2] - uz * r) * inv;
        cl[j] = m.radial + ((size_t)ti * m.ns + tj[j]) * m.nf * m.nb;
        mask[j] = 1.0;
        continue;
      }
    }
    // padding and neighbours outside the cutoff: zero f, f', basis rows and tangents
    u[j] = u[NP + j] = u[2 * NP + j] = 0.0; W[j] = W[NP + j] = W[2 * NP + j] = 0.0;
    dd[j] = 1.0; rd[j] = 0.0;
    if (floor) gf[j] = 1.0;
    cl[j] = m.radial;
    mask[j] = 0.0;
  }
  double* F = w.sf.data();
  double* DFR = w.sdf.data();  // f' (u.t): the radial part of df/dt
  double* P = w.sP.data();
  double* DP = w.sDP.data();
  v4a* phi = lane_scratch(w);
  v4a* dphi = phi + m.nb;
  for (int j = 0; j < np; j += kLanes) {
    const bool one = lane_basis(m, dd, gf, cl, j, phi, dphi);
    const v4d mk = MTP_CV(mask + j), r = MTP_CV(rd + j);
    for (int b = 0; b < m.nb; ++b) {
      MTP_V(P + (size_t)b * NP + j) = phi[b] * mk;
      MTP_V(DP + (size_t)b * NP + j) = dphi[b] * mk;
    }
    for (int mu = 0; mu < m.nf; ++mu) {
      v4d fa, fb;
      radial_function(m, cl + j, one, mu, phi, dphi, fa, fb);
      MTP_V(F + (size_t)mu * NP + j) = fa * mk;
      MTP_V(DFR + (size_t)mu * NP + j) = fb * mk * r;
    }
  }
  // monomials and their tangents, each from its parent: M_q = M_p U, dM_q = dM_p U + M_p dU
  double* M = w.smono.data();
  double* MT = w.smt.data();
  for (int j = 0; j < np; ++j) { M[j] = 1.0; MT[j] = 0.0; }
  for (int q = 1; q < m.n_mono; ++q) {
    const size_t p = (size_t)m.mpar[q] * NP, ax = (size_t)m.maxis[q] * NP, o = (size_t)q * NP;
    for (int j = 0; j < np; j += kLanes) {
      const v4d Pm = MTP_CV(M + p + j), Pt = MTP_CV(MT + p + j), U = MTP_CV(u + ax + j), dU = MTP_CV(W + ax + j);
      MTP_V(M + o + j) = Pm * U;
      MTP_V(MT + o + j) = Pt * U + Pm * dU;
    }
  }
  // basic moments and their tangents, summed over neighbours
  double* val = w.val.data();
  double* dot = w.dot.data();
  std::fill(w.val.begin(), w.val.end(), 0.0);
  std::fill(w.dot.begin(), w.dot.end(), 0.0);
  for (const Model::Block& b : m.blocks) {
    const double* f = F + (size_t)b.mu * NP;
    const double* fr = DFR + (size_t)b.mu * NP;
    for (int q = 0; q < b.len; ++q) {
      const double* mo = M + (size_t)(b.mono0 + q) * NP;
      const double* mt = MT + (size_t)(b.mono0 + q) * NP;
      v4d av = {0, 0, 0, 0}, ad = av;
      for (int j = 0; j < np; j += kLanes) {
        const v4d fj = MTP_CV(f + j), mj = MTP_CV(mo + j);
        av += fj * mj;
        ad += MTP_CV(fr + j) * mj + fj * MTP_CV(mt + j);
      }
      val[b.start + q] = (av[0] + av[1]) + (av[2] + av[3]);
      dot[b.start + q] = (ad[0] + ad[1]) + (ad[2] + ad[3]);
    }
  }
  for (const Model::Run& r : m.runs) {
    double acc = 0.0;
    for (int t = r.begin; t < r.end; ++t) acc += m.times[t].mult * val[m.times[t].i] * val[m.times[t].j];
    val[r.out] += acc;
  }
  for (const Model::Run& r : m.runs) {
    double acc = 0.0;
    for (int t = r.begin; t < r.end; ++t) {
      const Times& x = m.times[t];
      acc += x.mult * (dot[x.i] * val[x.j] + val[x.i] * dot[x.j]);
    }
    dot[r.out] += acc;
  }
  // reverse sweep: lam = dPhi/dval, eta = dPhi/ddot
  double* lam = zeroed(w.lam, w.lam.size());
  double* eta = zeroed(w.eta, w.eta.size());
  g_species[ti] += a;
  for (int q = 0; q < m.n_scalar; ++q) {
    const int k = m.mapping[q];
    g_moment[q] += a * val[k] + dot[k];
    lam[k] += a * m.moment[q];
    eta[k] += m.moment[q];
  }
  // eta[out] and lam[out] are final when their run is reached (every use of out comes later)
  for (auto r = m.runs.rbegin(); r != m.runs.rend(); ++r) {
    const double eo = eta[r->out], lo = lam[r->out];
    if (eo == 0.0 && lo == 0.0) continue;
    for (int t = r->begin; t < r->end; ++t) {
      const Times& x = m.times[t];
      const double e = x.mult * eo, l = x.mult * lo;
      eta[x.i] += e * val[x.j];
      eta[x.j] += e * val[x.i];
      lam[x.i] += l * val[x.j] + e * dot[x.j];
      lam[x.j] += l * val[x.i] + e * dot[x.i];
    }
  }
  // per neighbour: A = dPhi/df, B = dPhi/d(f' u.t)
  double* A = zeroed(w.sG, (size_t)m.nf * NP);
  double* Bv = zeroed(w.sGB, (size_t)m.nf * NP);
  for (const Model::Block& b : m.blocks) {
    const double* la = lam + b.start;
    const double* et = eta + b.start;
    for (int j = 0; j < np; j += kLanes) {
      v4d sa = {0, 0, 0, 0}, sb = sa;
      for (int q = 0; q < b.len; ++q) {
        const size_t row = (size_t)(b.mono0 + q) * NP + j;
        const v4d mo = MTP_CV(M + row);
        sa += la[q] * mo + et[q] * MTP_CV(MT + row);
        sb += et[q] * mo;
      }
      double* ga = A + (size_t)b.mu * NP + j;
      double* gb = Bv + (size_t)b.mu * NP + j;
      MTP_V(ga) = MTP_CV(ga) + sa;
      MTP_V(gb) = MTP_CV(gb) + sb;
    }
  }
  // radial coefficients: f_mu = sum_b c[ti][tj][mu][b] phi_b, summed per neighbour species
  for (int s = 0; s < m.ns; ++s) {
    bool any = false;
    for (int j = 0; j < nn && !any; ++j) any = tj[j] == s;
    if (!any) continue;
    double* sel = w.sgu.data();  // lane selector of this species (sgu is free on this path)
    for (int j = 0; j < np; ++j) sel[j] = (j < nn && tj[j] == s) ? 1.0 : 0.0;
    double* gr = g_radial + ((size_t)ti * m.ns + s) * m.nf * m.nb;
    for (int mu = 0; mu < m.nf; ++mu) {
      const double* am = A + (size_t)mu * NP;
      const double* bm = Bv + (size_t)mu * NP;
      for (int b = 0; b < m.nb; ++b) {
        const double* pb = P + (size_t)b * NP;
        const double* db = DP + (size_t)b * NP;
        v4d acc = {0, 0, 0, 0};
        for (int j = 0; j < np; j += kLanes)
          acc += MTP_CV(sel + j) * (MTP_CV(am + j) * MTP_CV(pb + j) + MTP_CV(bm + j) * MTP_CV(rd + j) * MTP_CV(db + j));
        gr[mu * m.nb + b] += (acc[0] + acc[1]) + (acc[2] + acc[3]);
      }
    }
  }
}

}  // namespace mtp
