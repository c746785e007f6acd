"""µs per atom-step (energy + forces + stress) and peak memory on diamond Si, side by side.

Every (model, size) runs in its own subprocess so peak RSS is that model's alone. Peers
(CHGNet, SevenNet-0) join when the optional ``peers`` extra is installed.

    python bench/speed.py [--sizes 64 512 4096] [--threads 2] [--model universal-v1|DIR] [--peers chgnet sevennet-0]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys


def _calculator(name: str):
    if name.startswith("peer:"):
        from unihub.zoo.peers import peer_calculator

        return peer_calculator(name[5:])
    if name == "random-init":
        from unihub.foundation.model.potential import UniversalPotential

        return UniversalPotential().calculator()
    from unihub.zoo import load_model

    return load_model(name).calculator()


def measure(name: str, n_atoms: int, threads: int, repeats: int) -> dict:
    """Time ``repeats`` calls after one warm-up; positions change every call (no caching)."""
    import resource

    import torch
    from ase.build import bulk

    from unihub.foundation.timing import time_calculator

    torch.set_num_threads(threads)
    reps = round((n_atoms / 8) ** (1 / 3))
    atoms = bulk("Si", "diamond", 5.43, cubic=True).repeat(reps)
    atoms.rattle(0.02, seed=0)
    # two warm-ups: the first calls pay one-off allocator/kernel set-up
    timing = time_calculator(_calculator(name), atoms, repeats, warmup=2)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # GiB (ru_maxrss is KiB on Linux)
    return {"model": name, "atoms": len(atoms), "us_per_atom_step": timing.us_per(len(atoms)),
            "peak_rss_gib": rss, "threads": threads, "load": timing.load}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 512, 4096])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model", default="universal-v1")
    p.add_argument("--peers", nargs="*", default=["chgnet", "sevennet-0"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", help="write results here")
    p.add_argument("--one", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:  # child process: one measurement, printed as JSON
        name, n = a.one.rsplit("@", 1)
        print(json.dumps(measure(name, int(n), a.threads, a.repeats)))
        return
    names = [a.model]
    try:
        from unihub.zoo.peers import peer_available

        names += [f"peer:{n}" for n in a.peers if peer_available(n)]
        skipped = [n for n in a.peers if not peer_available(n)]
    except ImportError:
        skipped = a.peers
    if skipped:
        print(f"# peers not installed, skipped: {skipped} (install with: bash .ci/install_peers.sh)")
    rows = []
    for n in a.sizes:
        for name in names:
            reps = a.repeats if n <= 512 else max(2, a.repeats // 2)
            cmd = [sys.executable, __file__, "--one", f"{name}@{n}", "--threads", str(a.threads),
                   "--repeats", str(reps)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"# {name} @ {n} atoms failed: {r.stderr.strip().splitlines()[-1:]}")
                continue
            rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
            r = rows[-1]
            print(f"{r['model']:>24} {r['atoms']:>6} atoms  {r['us_per_atom_step']:9.1f} µs/atom-step"
                  f"  peak {r['peak_rss_gib']:.2f} GiB", flush=True)
    base = {r["atoms"]: r for r in rows if r["model"] == a.model}
    print("\nratio (ours / peer) of time per atom-step; < 1 means we are faster")
    for r in rows:
        if r["model"] != a.model and r["atoms"] in base:
            ratio = base[r["atoms"]]["us_per_atom_step"] / r["us_per_atom_step"]
            print(f"  vs {r['model'][5:]:>12} at {r['atoms']:>5} atoms: {ratio:.3f}  (we are {1 / ratio:.1f}x faster)")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    from record import process_seconds, write_record

    figures = {f"{r['model']}@{r['atoms']}_atoms": {k: r[k] for k in ("us_per_atom_step", "peak_rss_gib")}
               for r in rows}
    for r in rows:
        if r["model"] != a.model and r["atoms"] in base:
            figures[f"{r['model']}@{r['atoms']}_atoms"]["ours_over_peer_time"] = (
                base[r["atoms"]]["us_per_atom_step"] / r["us_per_atom_step"])
    print(write_record("speed", figures, a.threads, process_seconds()))


if __name__ == "__main__":
    main()
