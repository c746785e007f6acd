"""Formation energies on the WBM subset (972 DFT-relaxed structures, single points), ours and peers.

A thin front end to the report's ``wbm`` suite (one measurement path): each model by the protocol of
its energy target (see ``unihub.eval.suites.wbm``), peers side by side in the same run.

    UNIHUB_DATA=../shared/data python bench/wbm.py [--models universal-v1 chgnet sevennet-0] [--size full]
"""

from __future__ import annotations

import argparse
import json
import time

from record import write_record


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["universal-v1", "chgnet", "sevennet-0"])
    p.add_argument("--size", default="full", choices=["quick", "default", "full"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("-o", "--out", default=".cache/bench/wbm", help="report folder (its report.json is the record)")
    a = p.parse_args()
    from unihub import ood_report

    t0 = time.perf_counter()
    rep = ood_report(a.models, suites=["wbm"], out=a.out, size=a.size, threads=a.threads)
    summary = json.loads(open(f"{a.out}/report.json").read())["suites"]["wbm"]["summary"]
    for name, row in summary.items():
        print(f"{name:<16} n={row['n']:<4} MAE {row['mae_meV_atom']:7.1f} meV/atom  R² {row['r2']:.3f}  "
              f"({row['protocol']})", flush=True)
    print(f"# {rep.get('wall_seconds', 0):.0f} s")
    print(write_record("wbm", summary, a.threads, time.perf_counter() - t0))


if __name__ == "__main__":
    main()
