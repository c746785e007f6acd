"""Datasets of labelled graphs for training, and the Lightning datamodule."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from unihub.foundation.data.frame import Frame
from unihub.foundation.data.splits import assign_splits
from unihub.foundation.errors import InputError
from unihub.foundation.graph import collate, to_graph

SPLITS = {"train": 0, "val": 1, "test": 2}


class FrameSource:
    """In-memory frames behind the same interface as a packed mix (``get``, ``indices``)."""

    def __init__(self, frames: Sequence[Frame], splits: Sequence[str] | None = None) -> None:
        self.frames = list(frames)
        if not self.frames:
            raise InputError("no frames given")
        self.fidelities = sorted({f.fidelity for f in self.frames})
        self.datasets = sorted({f.dataset for f in self.frames})
        if splits is None:  # by group, keeping a source's own test set

            splits = assign_splits(self.frames)
        self._split = np.array([SPLITS[s] for s in splits], dtype=np.int8)

    def __len__(self) -> int:
        return len(self.frames)

    def indices(self, split: str) -> np.ndarray:
        return np.where(self._split == SPLITS[split])[0]

    def get(self, i: int) -> dict:
        f = self.frames[i]
        n = len(f)
        return {
            "numbers": f.numbers, "positions": f.positions, "cell": f.cell, "pbc": f.pbc,
            "energy": np.nan if f.energy is None else f.energy,
            "forces": np.zeros((n, 3)) if f.forces is None else f.forces,
            "stress": np.zeros((3, 3)) if f.stress is None else f.stress,
            "has_energy": f.energy is not None, "has_forces": f.forces is not None,
            "has_stress": f.stress is not None,
            "fidelity": self.fidelities.index(f.fidelity), "dataset": self.datasets.index(f.dataset),
        }


def frame_column(source, indices: np.ndarray, name: str = "dataset") -> np.ndarray:
    """One integer label (``dataset``, ``fidelity``) of each of ``indices``' frames."""
    if hasattr(source, "array"):  # packed mix: read the memory-mapped column, not every frame
        return np.asarray(source.array(name))[indices].astype(np.int64)
    return np.array([int(source.get(int(i))[name]) for i in indices], dtype=np.int64)


class GraphDataset(Dataset):
    """Labelled graphs built on the fly (neighbour lists in the loader workers)."""

    def __init__(self, source, indices: np.ndarray, cutoff: float, fidelity_map: np.ndarray,
                 energy_shift: np.ndarray | None = None, forces_only_head: np.ndarray | None = None) -> None:
        self.source, self.indices, self.cutoff = source, np.asarray(indices), cutoff
        self.fidelity_map = fidelity_map  # source fidelity index → model head index
        # per (dataset, source fidelity) per-element label shift onto the head's reference (eV/atom)
        self.energy_shift = energy_shift
        # per position: a head that takes only the frame's forces (-1: the frame's own head, all labels)
        self.forces_only_head = forces_only_head

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int):
        d = self.source.get(int(self.indices[k]))
        head = int(self.fidelity_map[int(d["fidelity"])])
        if self.forces_only_head is not None and self.forces_only_head[k] >= 0:
            d = {**d, "has_energy": False, "has_stress": False}
            head = int(self.forces_only_head[k])
        g = to_graph(d["numbers"], d["positions"], d["cell"], d["pbc"], self.cutoff, head, check=False)
        n = len(d["numbers"])
        energy = float(d["energy"]) if d["has_energy"] else 0.0
        if self.energy_shift is not None and d["has_energy"]:
            key = int(d["dataset"]) * len(self.source.fidelities) + int(d["fidelity"])
            energy -= float(np.bincount(np.asarray(d["numbers"]), minlength=self.energy_shift.shape[1])
                            @ self.energy_shift[key])
        g.energy = torch.tensor([energy], dtype=torch.float64)
        g.forces = torch.as_tensor(np.asarray(d["forces"], dtype=np.float64)).reshape(n, 3)
        g.stress = torch.as_tensor(np.asarray(d["stress"], dtype=np.float64)).reshape(1, 3, 3)
        g.has_energy = torch.tensor([bool(d["has_energy"])])
        g.has_forces = torch.tensor([bool(d["has_forces"])])
        g.has_stress = torch.tensor([bool(d["has_stress"]) and bool(np.all(d["pbc"]))])
        g.dataset = torch.tensor([int(d["dataset"])])
        return g


class EpochSampler(Sampler[int]):
    """Shuffles with seed+epoch and shards by rank, so a resumed run sees the same order."""

    def __init__(self, n: int, shuffle: bool, seed: int, rank: int = 0, world: int = 1) -> None:
        self.n, self.shuffle, self.seed, self.rank, self.world = n, shuffle, seed, rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> np.ndarray:
        """This epoch's order of all positions, before sharding."""
        return (np.random.default_rng(self.seed + self.epoch).permutation(self.n) if self.shuffle
                else np.arange(self.n))

    def __iter__(self):
        order = self.order()
        # pad so every rank gets the same number of batches (DDP needs it)
        per = -(-len(order) // self.world)
        order = np.resize(order, per * self.world)
        return iter(order[self.rank::self.world].tolist())

    def __len__(self) -> int:
        return -(-self.n // self.world)


class PotentialDataModule(pl.LightningDataModule):
    """Train/val/test loaders over a frame source (a packed mix or in-memory frames)."""

    def __init__(self, source, model_fidelities: list[str], cutoff: float, batch_size: int = 16,
                 val_batch_size: int = 32, num_workers: int = 0, seed: int = 0,
                 max_frames_per_split: dict[str, int] | None = None,
                 forces_also_on: dict[tuple[int, int], int] | None = None) -> None:
        super().__init__()
        self.source, self.cutoff, self.seed = source, cutoff, seed
        self.batch_size, self.val_batch_size, self.num_workers = batch_size, val_batch_size, num_workers
        missing = [f for f in source.fidelities if f not in model_fidelities]
        if missing:
            raise InputError(f"data fidelities {missing} have no head in the model (heads: {model_fidelities}); "
                             "add them to model.fidelities in the config")
        self.fidelity_map = np.array([model_fidelities.index(f) for f in source.fidelities])
        self.max_frames = max_frames_per_split or {}
        # (dataset index, source fidelity index) → a head also trained on those frames' forces
        self.forces_also_on = forces_also_on or {}
        self.energy_shift: np.ndarray | None = None  # set from fit_references before training

    def _indices(self, split: str) -> np.ndarray:
        idx = self.source.indices(split)
        cap = self.max_frames.get(split)
        if cap is not None and len(idx) > cap:
            idx = np.sort(np.random.default_rng(self.seed).choice(idx, cap, replace=False))
        return idx

    def _loader(self, split: str, shuffle: bool, batch_size: int) -> DataLoader:
        idx, extra_head = self._indices(split), None
        if split == "train" and self.forces_also_on:
            ds, fid = frame_column(self.source, idx, "dataset"), frame_column(self.source, idx, "fidelity")
            copies = [(idx[(ds == d) & (fid == f)], h) for (d, f), h in sorted(self.forces_also_on.items())]
            extra_head = np.concatenate([np.full(len(idx), -1)] + [np.full(len(c), h) for c, h in copies])
            idx = np.concatenate([idx] + [c for c, _ in copies])
        ds = GraphDataset(self.source, idx, self.cutoff, self.fidelity_map, self.energy_shift, extra_head)
        rank = self.trainer.global_rank if self.trainer is not None else 0
        world = self.trainer.world_size if self.trainer is not None else 1
        sampler = EpochSampler(len(ds), shuffle, self.seed, rank, world)
        return DataLoader(ds, batch_size=batch_size, sampler=sampler, collate_fn=collate,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True, self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False, self.val_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False, self.val_batch_size)
