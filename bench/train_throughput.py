"""Training throughput (atoms/s, energy+forces+stress loss with its double backward) on the packed mix.

Times optimiser steps of the universal-v1 architecture on batches drawn from the packed training
mix, with 1 and 2 torch threads (and on CUDA when available), after warm-up steps.

    UNIHUB_DATA=../shared/data python bench/train_throughput.py [--steps 30] [--batch 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from record import write_record


def batches(n: int, batch: int, cutoff: float, seed: int = 0):
    from unihub.foundation.data import PackedMix
    from unihub.foundation.graph import collate
    from unihub.foundation.training.data import GraphDataset
    from unihub.foundation.training.run import cache_dir

    mix = PackedMix(sorted((cache_dir() / "packs").glob("mix-*"))[-1])
    idx = np.random.default_rng(seed).choice(mix.indices("train"), n * batch, replace=False)
    ds = GraphDataset(mix, idx, cutoff, np.arange(len(mix.fidelities)))
    return [collate([ds[k] for k in range(i * batch, (i + 1) * batch)]) for i in range(n)]


def measure(device: str, threads: int, data, warmup: int = 3) -> float:
    from unihub.foundation.model.config import ModelConfig
    from unihub.foundation.training.module import PotentialModule

    torch.set_num_threads(threads)
    mod = PotentialModule(ModelConfig().to_dict(), {}, {}, ["x"] * 32).to(device)
    opt = torch.optim.AdamW(mod.model.parameters(), 1e-3)
    atoms, t0 = 0, None
    for k, b in enumerate(data):
        if k == warmup:
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        b = b.to(device)
        loss = mod._loss(b, *mod._errors(mod.model, b, create_graph=True))
        loss.backward()
        opt.step()
        opt.zero_grad()
        if k >= warmup:
            atoms += b.num_nodes
    if device == "cuda":
        torch.cuda.synchronize()
    return atoms / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch", type=int, default=8)
    a = p.parse_args()
    t0 = time.perf_counter()
    data = batches(a.steps + 3, a.batch, 5.0)
    print(f"{a.steps} steps of {a.batch} frames (mean {np.mean([b.num_nodes for b in data]):.0f} atoms per batch)")
    figures: dict = {"steps": a.steps, "batch_frames": a.batch,
                     "mean_atoms_per_batch": float(np.mean([b.num_nodes for b in data]))}
    for threads in (1, 2):
        figures[f"cpu_{threads}_threads_atoms_per_s"] = measure("cpu", threads, data)
        print(f"cpu, {threads} thread(s): {figures[f'cpu_{threads}_threads_atoms_per_s']:8.0f} atoms/s", flush=True)
    if torch.cuda.is_available():
        figures["cuda_device"] = torch.cuda.get_device_name()
        figures["cuda_atoms_per_s"] = measure("cuda", 1, data)
        print(f"cuda ({figures['cuda_device']}): {figures['cuda_atoms_per_s']:8.0f} atoms/s")
    print(write_record("train_throughput", figures, 2, time.perf_counter() - t0))


if __name__ == "__main__":
    main()
