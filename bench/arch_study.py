"""Which interaction block? Accuracy per CPU-second of architecture variants, side by side.

Each variant trains on the same frames (a fixed sample of the packed training mix, diatomics aside) for the same
budget of *process CPU time* (robust to other load on the machine), single-threaded, then is
scored on the same validation frames; inference cost is µs/atom-step on 512-atom Si, 1 thread.

    UNIHUB_DATA=../shared/data python bench/arch_study.py [--config bench/configs/arch_study.yaml] [--json OUT]

The budget, the number of frames and the variants are the config's (``bench/configs/arch_study.yaml``).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pytorch_lightning as pl
import torch
from record import load_config, write_record


class CpuBudget(pl.Callback):
    """Stop training once this process has used ``seconds`` of CPU time."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.start = seconds, time.process_time()

    def on_train_batch_end(self, trainer, *args) -> None:
        if time.process_time() - self.start > self.seconds:
            trainer.should_stop = True


def sample_source(n_frames: int, seed: int = 0):
    """A fixed mixed sample: frames from the pack's train split and its val split."""
    from unihub.foundation.data import PackedMix
    from unihub.foundation.training.data import FrameSource
    from unihub.foundation.training.run import cache_dir

    packs = sorted((cache_dir() / "packs").glob("mix-*"))
    if not packs:
        raise SystemExit("no packed mix in the cache: run "
                         "`unihub train foundation/configs/universal-v1-stage1.yaml` once")
    mix = PackedMix(max(packs, key=lambda p: p.stat().st_mtime))
    rng = np.random.default_rng(seed)
    # diatomics at 0.8 r_cov carry forces of hundreds of eV/Å: they would swamp the comparison, and
    # they probe the ZBL prior more than the interaction blocks
    keep = np.asarray(mix.array("dataset")) != mix.datasets.index("diatomics")
    tr = rng.choice(mix.indices("train")[keep[mix.indices("train")]], n_frames, replace=False)
    va = rng.choice(mix.indices("val")[keep[mix.indices("val")]], n_frames // 4, replace=False)
    frames = [mix.frame(int(i)) for i in np.concatenate([tr, va])]
    return FrameSource(frames, splits=["train"] * len(tr) + ["val"] * len(va))


def inference_cost(model) -> float:
    from ase.build import bulk

    atoms = bulk("Si", "diamond", 5.43, cubic=True).repeat(4)
    atoms.rattle(0.02, seed=0)
    atoms.calc = model.calculator()
    times = []
    for k in range(5):
        atoms.positions[0, 0] += 1e-3
        t = time.process_time()
        atoms.get_forces(), atoms.get_stress()
        if k >= 2:
            times.append(time.process_time() - t)
    return 1e6 * float(np.median(times)) / len(atoms)


def run_variant(name: str, kw: dict, source, cpu_seconds: float, out: str) -> dict:
    from unihub.foundation.training.config import TrainConfig
    from unihub.foundation.training.data import PotentialDataModule
    from unihub.foundation.training.module import PotentialModule
    from unihub.foundation.training.references import fit_references

    cfg = TrainConfig.from_dict({"model": kw, "optim": {"lr": 3e-3, "warmup_steps": 50}})
    pl.seed_everything(0)
    dm = PotentialDataModule(source, cfg.model.fidelities, cfg.model.cutoff, batch_size=8, val_batch_size=32)
    mod = PotentialModule(cfg.model.to_dict(), cfg.loss.__dict__, cfg.optim.__dict__, list(source.datasets))
    ref = fit_references(source, source.indices("train"), dm.fidelity_map, len(cfg.model.fidelities))
    dm.energy_shift = ref.shift
    for net in (mod.model, mod.ema):
        net.reference_energies.copy_(torch.as_tensor(ref.head))
        net.seen_elements.copy_(torch.as_tensor(ref.seen))
        net.energy_scale.fill_(ref.force_rms)
    trainer = pl.Trainer(max_epochs=1000, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, inference_mode=False, use_distributed_sampler=False,
                         gradient_clip_val=10.0, callbacks=[CpuBudget(cpu_seconds)], num_sanity_val_steps=0,
                         check_val_every_n_epoch=10_000, enable_model_summary=False)
    t0 = time.process_time()
    trainer.fit(mod, dm)
    train_cpu = time.process_time() - t0
    mod.eval()
    val = trainer.validate(mod, dm, verbose=False)[0]
    return {"variant": name, "params": mod.model.num_parameters(), "steps": trainer.global_step,
            "train_cpu_s": train_cpu, "val_force_mae_meV_A": val["val/forces_mae_meV_A"],
            "val_energy_mae_meV_atom": val["val/energy_mae_meV_atom"],
            "us_per_atom_step_512_1thread": inference_cost(mod.ema)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", help="YAML settings (default: bench/configs/arch_study.yaml)")
    p.add_argument("--json", default=None, help="also write the rows here")
    a = p.parse_args()
    cfg = load_config(a.config, "arch_study")
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    source = sample_source(cfg["frames"])
    rows = []
    for name, kw in cfg["variants"].items():
        rows.append(run_variant(name, kw, source, cfg["cpu_seconds"], "."))
        r = rows[-1]
        print(f"{name:<40} params {r['params']:>7,}  steps {r['steps']:>5}  val F MAE {r['val_force_mae_meV_A']:7.1f} "
              f"meV/Å  E MAE {r['val_energy_mae_meV_atom']:7.1f} meV/atom  {r['us_per_atom_step_512_1thread']:7.0f} "
              "µs/atom-step", flush=True)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    figures = {"cpu_seconds_per_variant": cfg["cpu_seconds"], "frames": cfg["frames"],
               **{r["variant"]: {k: v for k, v in r.items() if k != "variant"} for r in rows}}
    print(write_record("arch_study", figures, 1, time.perf_counter() - t0))


if __name__ == "__main__":
    main()
