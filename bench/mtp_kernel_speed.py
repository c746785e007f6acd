"""The MTP kernel alone, this checkout's header vs another revision's, side by side: the energy + force
path (``--path efs``, what MD runs) or the fitting gradient (``--path grad``, what a fit runs).

    python bench/mtp_kernel_speed.py --potential si.mtp [--path grad] [--rev 0000000] [--atoms 4096] [--reps 20]

Both ``mtp_core.hpp`` versions are compiled into the same small driver (the LAMMPS plugin's flags), which
builds a rattled diamond Si cell, lists neighbours once and calls ``mtp::site`` (or ``mtp::site_param_grad``
with fixed random tangents) for every atom ``--reps`` times on one thread. The drivers alternate for
``--rounds`` rounds; their results (energy and force norm, or sum and norm of the gradient) must agree.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
from pathlib import Path

from record import write_record

from unihub.finetune.mtp.cxx import compiler

ROOT = Path(__file__).resolve().parents[1]
KERNEL = ROOT / "finetune" / "mtp" / "kernel"
READER = ROOT / "finetune" / "mtp" / "lammps"
FLAGS = ["-O3", "-std=c++17", "-ffp-contract=off"]

DRIVER = r"""
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include "mtp_core.hpp"
#include "mtp_reader.hpp"
int main(int argc, char** argv) {
  std::ifstream in(argv[1]); std::stringstream ss; ss << in.rdbuf();
  auto file = unihub::parse_mtp(ss.str());
  mtp::Model m; file.bind(m);
  const int n = std::atoi(argv[2]), reps = std::atoi(argv[3]);
  const double a = 5.43, L = a * n, rc = file.max_dist;
  const double basis[8][3] = {{0, 0, 0}, {0, .5, .5}, {.5, 0, .5}, {.5, .5, 0},
                              {.25, .25, .25}, {.25, .75, .75}, {.75, .25, .75}, {.75, .75, .25}};
  std::vector<double> x; std::mt19937 g(1); std::normal_distribution<double> rattle(0, 0.05);
  for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) for (int k = 0; k < n; k++) for (auto& b : basis) {
    x.push_back((i + b[0]) * a + rattle(g));
    x.push_back((j + b[1]) * a + rattle(g));
    x.push_back((k + b[2]) * a + rattle(g));
  }
  const int N = x.size() / 3;
  std::vector<std::vector<double>> rv(N); std::vector<std::vector<int>> tj(N);
  for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) {
    if (i == j) continue;
    double d[3], r2 = 0;
    for (int c = 0; c < 3; c++) { d[c] = x[3*j+c] - x[3*i+c]; d[c] -= L * std::round(d[c] / L); r2 += d[c] * d[c]; }
    if (r2 < rc * rc) { for (int c = 0; c < 3; c++) rv[i].push_back(d[c]); tj[i].push_back(0); }
  }
  mtp::Work w; std::vector<double> grad(3 * 512);
  double e = 0, f2 = 0;
  const bool param_grad = argc > 4 && std::string(argv[4]) == "grad";
  std::vector<double> tv(3 * 512);
  std::uniform_real_distribution<double> unit(-1, 1);
  for (auto& t : tv) t = unit(g);
  std::vector<double> gs(m.ns), gm(m.n_scalar), gr((size_t)m.ns * m.ns * m.nf * m.nb);
  auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < reps; r++) for (int i = 0; i < N; i++) {
    if (param_grad) {
      mtp::site_param_grad(m, w, 0, tj[i].size(), tj[i].data(), rv[i].data(), tv.data(), 0.3, gs.data(), gm.data(),
                           gr.data());
      continue;
    }
    e += mtp::site(m, w, 0, tj[i].size(), tj[i].data(), rv[i].data(), grad.data());
    for (size_t k = 0; k < 3 * tj[i].size(); k++) f2 += grad[k] * grad[k];
  }
  if (param_grad) {  // sum and norm of one pass's gradient (the passes accumulated reps times)
    for (double v : gm) { e += v; f2 += v * v / reps; }
    for (double v : gr) { e += v; f2 += v * v / reps; }
  }
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("atoms %d energy %.10f fnorm %.10e us_per_atom %.4f\n", N, e / reps, std::sqrt(f2 / reps),
              dt / N / reps * 1e6);
}
"""


def build(header_dir: Path, out: Path) -> Path:
    src = out.with_suffix(".cpp")
    src.write_text(DRIVER)
    subprocess.run([compiler(), *FLAGS, f"-I{header_dir}", f"-I{READER}", str(src), "-o", str(out)], check=True)
    return out


def run(exe: Path, potential: Path, cells: int, reps: int, path: str = "efs") -> dict:
    line = subprocess.run([str(exe), str(potential), str(cells), str(reps), path], check=True, capture_output=True,
                          text=True).stdout
    vals = dict(re.findall(r"(\w+) (\S+)", line))
    return {k: float(v) for k, v in vals.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--potential", type=Path, required=True, help="a single-element Si .mtp")
    ap.add_argument("--path", choices=("efs", "grad"), default="efs",
                    help="energy + forces (MD) or the parameter gradient (fitting)")
    ap.add_argument("--rev", help="git revision whose mtp_core.hpp to compare with (default: this one alone)")
    ap.add_argument("--atoms", type=int, default=4096, help="rounded to 8 n³")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    cells = max(1, round((args.atoms / 8) ** (1 / 3)))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="unihub-kernel-") as d:
        d = Path(d)
        exes = {"this checkout": build(KERNEL, d / "now")}
        if args.rev:
            old = d / "old"
            old.mkdir()
            text = subprocess.run(["git", "-C", str(ROOT), "show", f"{args.rev}:finetune/mtp/kernel/mtp_core.hpp"],
                                  check=True, capture_output=True, text=True).stdout
            (old / "mtp_core.hpp").write_text(text)
            exes[args.rev] = build(old, d / "old_driver")
        times: dict = {k: [] for k in exes}
        first: dict = {}
        for _ in range(args.rounds):
            for name, exe in exes.items():
                r = run(exe, args.potential.resolve(), cells, args.reps, args.path)
                times[name].append(r["us_per_atom"])
                first.setdefault(name, r)
                print(f"{name:>14}: {r['atoms']:.0f} atoms, energy {r['energy']:.8f} eV, |F| {r['fnorm']:.8e}, "
                      f"{r['us_per_atom']:.2f} µs/atom", flush=True)
        ref = next(iter(first.values()))
        for name, r in first.items():
            for q in ("energy", "fnorm"):
                if abs(r[q] - ref[q]) > 1e-9 * max(abs(ref[q]), abs(ref["fnorm"])):
                    raise SystemExit(f"{name} disagrees on {q}: {r[q]} vs {ref[q]}")
        best = {k: min(v) for k, v in times.items()}
        for k, v in best.items():
            print(f"best of {args.rounds}: {k} {v:.2f} µs/atom")
        if args.rev:
            print(f"speed-up of this checkout over {args.rev}: {best[args.rev] / best['this checkout']:.2f}×")
    figures = {"path": args.path, "potential": str(args.potential), "atoms": int(ref["atoms"]), "reps": args.reps,
               "rounds": args.rounds, "best_us_per_atom": best}
    if args.rev:
        figures["speedup_over_rev"] = best[args.rev] / best["this checkout"]
    print(write_record("mtp_kernel_speed", figures, 1, time.perf_counter() - t0))


if __name__ == "__main__":
    main()
