"""Accuracy on the held-out test frames of every training dataset, ours and peers in one run.

Test frames are the ``test`` split of the very pack the model was trained on (its config names the
datasets; the pack key covers the cards). Peers (CHGNet, SevenNet-0) are scored on the PBE frames.
Forces (meV/Å) and stress (GPa) are compared directly. Energies (meV/atom) are compared after
removing a per-element linear offset fitted on the same test frames, separately for every model:
DFT codes, PAW sets and peers' reference energies differ by per-element constants that say nothing
about the potential energy surface.

    UNIHUB_DATA=../shared/data python bench/accuracy.py [--model universal-v1] [--max-frames 120]
"""

from __future__ import annotations

import argparse
import json
import time

from record import write_record

from unihub.eval.suites.heldout import predict_frames, score, test_frames
from unihub.foundation.metrics import aligned_energy_mae

__all__ = ["aligned_energy_mae", "main", "predict_ours", "predict_peer", "score", "test_frames"]


def predict_ours(model, frames) -> list:
    from unihub.eval.models import wrap_hub_model

    return predict_frames(wrap_hub_model(model), frames)[0]


def predict_peer(calc, frames) -> list:
    from unihub.eval.models import EvalModel

    peer = EvalModel("peer", "peer", "", _calcs={None: calc})

    def report(f, err):  # a peer failing on one structure is a result, not a crash
        print(f"#   peer failed on a {f.dataset} frame: {err}")

    return predict_frames(peer, frames, on_error=report)[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="universal-v1")
    p.add_argument("--peers", nargs="*", default=["chgnet", "sevennet-0"])
    p.add_argument("--max-frames", type=int, default=120)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json")
    a = p.parse_args()
    import torch

    from unihub.zoo import load_model

    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    model = load_model(a.model)
    data = test_frames(model, a.max_frames)
    peers = {}
    from unihub.zoo.peers import peer_available, peer_calculator

    for name in a.peers:
        if peer_available(name):
            peers[name] = peer_calculator(name, num_threads=a.threads)
        else:
            print(f"# peer {name} not installed: skipped (bash .ci/install_peers.sh)")
    rows = []
    for ds, frames in data.items():
        t = time.perf_counter()
        rows.append({"dataset": ds, "model": a.model, **score(frames, predict_ours(model, frames)),
                     "seconds": time.perf_counter() - t})
        pbe = [f for f in frames if f.fidelity == "pbe"]
        if pbe and peers and len(pbe) != len(frames):  # ours on the peers' PBE-only frames, like for like
            rows.append({"dataset": f"{ds} (pbe frames)", "model": a.model, **score(pbe, predict_ours(model, pbe))})
        for name, calc in peers.items():
            if pbe:
                t = time.perf_counter()
                rows.append({"dataset": ds, "model": name, **score(pbe, predict_peer(calc, pbe)),
                             "seconds": time.perf_counter() - t})
    print(f"\n{'dataset':<32}{'model':<16}{'frames':>7}{'E MAE*':>10}{'E raw':>10}{'F MAE':>10}{'S MAE':>9}")
    print(f"{'':<32}{'':<16}{'':>7}{'meV/atom':>10}{'meV/atom':>10}{'meV/Å':>10}{'GPa':>9}")
    def fmt(r, k, w, d):
        return f"{r[k]:>{w}.{d}f}" if k in r else f"{'-':>{w}}"

    for r in rows:
        print(f"{r['dataset']:<32}{r['model']:<16}{r['frames']:>7}{fmt(r, 'energy_mae_meV_atom_aligned', 10, 1)}"
              f"{fmt(r, 'energy_mae_meV_atom_raw', 10, 1)}{fmt(r, 'force_mae_meV_A', 10, 1)}"
              f"{fmt(r, 'stress_mae_GPa', 9, 3)}")
    print("* energy MAE after a per-element offset fitted on the same frames, per model (see the docstring);\n"
          "  'E raw' compares absolute energies: meaningful for our heads (trained on these references), not for peers")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    figures = {f"{r['dataset']}/{r['model']}": {k: v for k, v in r.items() if k not in ("dataset", "model")}
               for r in rows}
    print(write_record("accuracy", figures, a.threads, time.perf_counter() - t0))


if __name__ == "__main__":
    main()
