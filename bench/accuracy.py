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

import numpy as np

EV_A3_TO_GPA = 160.21766208


def test_frames(model, max_frames: int, seed: int = 0) -> dict:
    """{dataset: [Frame]} from the test split of the model's training pack."""
    from foundation.training.config import TrainConfig
    from foundation.training.run import open_source

    cfg = TrainConfig.from_dict(model.extra_config["training"]["config"])
    mix = open_source(cfg)
    names = mix.datasets
    ds = np.asarray(mix.array("dataset"))
    test = mix.indices("test")
    rng = np.random.default_rng(seed)
    out = {}
    for k, name in enumerate(names):
        idx = test[ds[test] == k]
        if len(idx) > max_frames:
            idx = np.sort(rng.choice(idx, max_frames, replace=False))
        if len(idx):
            out[name] = [mix.frame(int(i)) for i in idx]
    return out


def aligned_energy_mae(frames, pred_e) -> float | None:
    """MAE per atom after the best per-element offset (least squares on these frames).

    None when there are fewer than three frames per fitted offset: the fit would absorb the errors.
    """
    zs = sorted({int(z) for f in frames for z in f.numbers})
    if len(frames) < 3 * len(zs):
        return None
    a = np.array([[np.sum(f.numbers == z) for z in zs] for f in frames], dtype=float)
    n = np.array([len(f) for f in frames], dtype=float)
    resid = np.array(pred_e) - np.array([f.energy for f in frames])
    coef, *_ = np.linalg.lstsq(a, resid, rcond=None)
    return float(np.mean(np.abs((resid - a @ coef) / n)) * 1000)


def score(frames, preds) -> dict:
    fe = [(f, p) for f, p in zip(frames, preds) if f.energy is not None and p is not None]
    ff = [(f, p) for f, p in zip(frames, preds) if f.forces is not None and p is not None]
    fs = [(f, p) for f, p in zip(frames, preds)
          if f.stress is not None and p is not None and p.get("stress") is not None]
    out = {"frames": len(frames), "failed": sum(p is None for p in preds)}
    if len(fe) > 1:
        mae = aligned_energy_mae([f for f, _ in fe], [p["energy"] for _, p in fe])
        if mae is not None:
            out["energy_mae_meV_atom_aligned"] = mae
        out["energy_mae_meV_atom_raw"] = 1000 * float(np.mean([abs(p["energy"] - f.energy) / len(f) for f, p in fe]))
    if ff:
        out["force_mae_meV_A"] = 1000 * float(np.mean(np.concatenate(
            [np.abs(p["forces"] - f.forces).ravel() for f, p in ff])))
    if fs:
        out["stress_mae_GPa"] = EV_A3_TO_GPA * float(np.mean(np.concatenate(
            [np.abs(np.asarray(p["stress"]).reshape(3, 3) - f.stress).ravel() for f, p in fs])))
    return out


def predict_ours(model, frames) -> list:
    preds = []
    for f in frames:
        try:
            preds.append(model.predict([f.to_atoms()], head=f.fidelity)[0])
        except ValueError:
            preds.append(None)
    return preds


def predict_peer(calc, frames) -> list:
    preds = []
    for f in frames:
        atoms = f.to_atoms()
        atoms.calc = calc
        try:
            r = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
            if atoms.pbc.all():
                r["stress"] = atoms.get_stress(voigt=False)
            preds.append(r)
        except Exception as exc:  # a peer failing on one structure is a result, not a crash
            print(f"#   peer failed on a {f.dataset} frame: {type(exc).__name__}: {exc}")
            preds.append(None)
    return preds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="universal-v1")
    p.add_argument("--peers", nargs="*", default=["chgnet", "sevennet-0"])
    p.add_argument("--max-frames", type=int, default=120)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json")
    a = p.parse_args()
    import torch

    from zoo import load_model

    torch.set_num_threads(a.threads)
    model = load_model(a.model)
    data = test_frames(model, a.max_frames)
    peers = {}
    from eval.peers import peer_available, peer_calculator

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
        for name, calc in peers.items():
            if pbe:
                t = time.perf_counter()
                rows.append({"dataset": ds, "model": name, **score(pbe, predict_peer(calc, pbe)),
                             "seconds": time.perf_counter() - t})
                if len(pbe) != len(frames):  # ours on the same PBE-only frames, for a like-for-like row
                    rows.append({"dataset": f"{ds} (pbe frames)", "model": a.model,
                                 **score(pbe, predict_ours(model, pbe))})
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


if __name__ == "__main__":
    main()
