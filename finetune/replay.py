"""Replay of pretraining frames: element filters (as MACE does), random or farthest-point selection on
the model's own descriptors, pseudo-labels from the base model, and the per-epoch replay sampler."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from unihub.foundation.data.frame import Frame
from unihub.foundation.graph import collate, to_graph
from unihub.foundation.training.config import TrainConfig
from unihub.foundation.training.data import EpochSampler, frame_column
from unihub.foundation.training.run import _CappedSource, run_references

FILTERS = ("none", "combinations", "inclusive", "exclusive")
SELECTIONS = ("random", "fps")


def element_sets(source, indices: np.ndarray) -> list[frozenset[int]]:
    """The set of atomic numbers of each frame (vectorised on a packed mix's memory-mapped arrays)."""
    if hasattr(source, "array"):
        off = np.asarray(source.array("atom_offset"))
        numbers = np.asarray(source.array("numbers"))
        return [frozenset(np.unique(numbers[off[i]:off[i + 1]]).tolist()) for i in indices]
    return [frozenset(np.unique(source.get(int(i))["numbers"]).tolist()) for i in indices]


def keep_by_elements(frame_elements: frozenset[int], elements: frozenset[int], mode: str) -> bool:
    """MACE's pretraining-data filters: ``combinations`` only fine-tune elements, ``inclusive`` all
    fine-tune elements (and maybe others), ``exclusive`` exactly the fine-tune elements, ``none`` anything."""
    if mode == "none":
        return True
    if mode == "combinations":
        return frame_elements <= elements
    if mode == "inclusive":
        return elements <= frame_elements
    if mode == "exclusive":
        return frame_elements == elements
    raise ValueError(f"replay_filter must be one of {FILTERS}, got {mode!r}")


def filter_indices(source, indices: np.ndarray, elements: Sequence[int], mode: str) -> np.ndarray:
    """The frames of ``indices`` that pass the element filter ``mode``."""
    if mode not in FILTERS:
        raise ValueError(f"replay_filter must be one of {FILTERS}, got {mode!r}")
    indices = np.asarray(indices)
    if mode == "none":
        return indices
    want = frozenset(int(z) for z in elements)
    sets = element_sets(source, indices)
    return indices[np.array([keep_by_elements(s, want, mode) for s in sets], dtype=bool)]


def fidelity_indices(source, indices: np.ndarray, fidelity: str) -> np.ndarray:
    """The frames of ``indices`` labelled in ``fidelity`` ('any': all of them)."""
    indices = np.asarray(indices)
    if fidelity == "any":
        return indices
    names = source_fidelities(source)
    if fidelity not in names:
        raise ValueError(f"replay_fidelity {fidelity!r}: the pretraining frames have the fidelities {names}; "
                         "give one of them, 'head' or 'any'")
    return indices[frame_column(source, indices, "fidelity") == names.index(fidelity)]


def source_fidelities(source) -> list[str]:
    meta = getattr(source, "meta", None)
    return list(meta["fidelities"]) if meta is not None else list(source.fidelities)


@torch.no_grad()
def descriptors(model, source, indices: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Per-structure descriptors: the model's final scalar atom features, mean-pooled over atoms."""
    fids = source_fidelities(source)
    captured: list[torch.Tensor] = []
    # the last update block's scalar output is the feature the readout sees; a hook reuses forward as is
    hook = model.updates[-1].register_forward_hook(lambda mod, args, out: captured.append(out[0]))
    model.eval()
    out = []
    try:
        for start in range(0, len(indices), batch_size):
            graphs = []
            for i in indices[start:start + batch_size]:
                d = source.get(int(i))
                head = model.fidelity_index(fids[int(d["fidelity"])])
                graphs.append(to_graph(d["numbers"], d["positions"], d["cell"], d["pbc"], model.config.cutoff,
                                       head, check=False))
            batch = collate(graphs)
            captured.clear()
            model(batch, forces=False, stress=False)
            s = captured[-1]
            n = torch.bincount(batch.batch, minlength=batch.num_graphs).clamp(min=1).unsqueeze(1)
            pooled = torch.zeros(batch.num_graphs, s.shape[1], dtype=s.dtype).index_add(0, batch.batch, s) / n
            out.append(pooled.double().numpy())
    finally:
        hook.remove()
    return np.concatenate(out) if out else np.zeros((0, model.config.features))


def farthest_point_sampling(x: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Indices of ``k`` rows of ``x`` chosen greedily, each farthest (Euclidean) from those already chosen."""
    n = len(x)
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=int)
    chosen = [int(np.random.default_rng(seed).integers(n))]
    dist = np.linalg.norm(x - x[chosen[0]], axis=1)
    for _ in range(k - 1):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(x - x[nxt], axis=1))
    return np.array(chosen)


def _pretraining_view(model, source):
    """(training config, ``source`` capped per dataset as pretraining drew it), or None when ``model`` does
    not record its training config."""
    cfg = (getattr(model, "extra_config", None) or {}).get("training", {}).get("config")
    if not cfg:
        return None
    tc = TrainConfig.from_dict(cfg)
    return tc, _CappedSource(source, tc.data.max_frames_per_dataset, tc.seed)


def pretrained_indices(model, source) -> np.ndarray:
    """The train-split frames of ``source`` that ``model``'s pretraining drew from: its training config caps
    every dataset (``data.max_frames_per_dataset``, sampled with its seed), so replay and EWC see the datasets
    in pretraining's proportions, not the uncapped split's, where one large dataset can be half the frames."""
    view = _pretraining_view(model, source)
    return source.indices("train") if view is None else view[1].indices("train")


def select_replay(source, n: int, elements: Sequence[int], *, select: str = "random", filter: str = "none",
                  fidelity: str = "any", model=None, seed: int = 0, fps_pool: int | None = None,
                  candidates: np.ndarray | None = None) -> np.ndarray:
    """``n`` frame indices among ``candidates`` (default: the source's train split) labelled in ``fidelity``
    ('any': all) and passing ``filter``, chosen at random or by FPS on ``model``'s descriptors (FPS looks at a
    random pool of ``fps_pool`` candidates, default 5n ≥ 1000)."""
    if select not in SELECTIONS:
        raise ValueError(f"replay_select must be one of {SELECTIONS}, got {select!r}")
    cand = fidelity_indices(source, source.indices("train") if candidates is None else np.asarray(candidates),
                            fidelity)
    if len(cand) == 0:
        raise ValueError(f"no pretraining frame is labelled in {fidelity!r}; use replay_fidelity='any'")
    cand = filter_indices(source, cand, elements, filter)
    if len(cand) == 0:
        raise ValueError(f"no pretraining frame passes replay_filter={filter!r} for elements {sorted(elements)}"
                         f"{'' if fidelity == 'any' else f' among those labelled in {fidelity!r}'}; "
                         "use a looser filter ('inclusive' or 'none')")
    rng = np.random.default_rng(seed)
    if n >= len(cand):
        return np.sort(cand)
    if select == "random":
        return np.sort(rng.choice(cand, n, replace=False))
    if model is None:
        raise ValueError("replay_select='fps' needs the model whose descriptors it samples")
    pool_size = fps_pool or max(5 * n, 1000)
    pool = cand if len(cand) <= pool_size else np.sort(rng.choice(cand, pool_size, replace=False))
    x = descriptors(model, source, pool)
    return np.sort(pool[farthest_point_sampling(x, n, seed)])


def pseudolabel(model, frames: Sequence[Frame], keep_fidelity: str | None = None) -> list[Frame]:
    """Frames relabelled (energy, forces, stress) by ``model`` through each frame's own head; frames of
    fidelity ``keep_fidelity`` (the fine-tune functional) keep their DFT labels."""
    out = list(frames)
    by_head: dict[str, list[int]] = {}
    for k, f in enumerate(frames):
        if f.fidelity != keep_fidelity:
            by_head.setdefault(f.fidelity, []).append(k)
    for head, ks in by_head.items():
        preds = model.predict([frames[k].to_atoms() for k in ks], head=head)
        for k, p in zip(ks, preds):
            f = frames[k]
            out[k] = Frame(f.numbers, f.positions, f.cell, f.pbc, energy=p["energy"], forces=p["forces"],
                           stress=p.get("stress"), fidelity=f.fidelity, dataset=f.dataset, group=f.group,
                           split=f.split, info={**f.info, "pseudolabel": True})
    return out


class ReplaySampler(EpochSampler):
    """Every epoch: all fine-tune frames (positions ``0..n_ft-1``) plus ``per_epoch`` replay frames drawn
    afresh from the pool (positions ``n_ft..n_ft+n_pool-1``), shuffled with seed + epoch and sharded by
    rank as the training sampler is."""

    def __init__(self, n_ft: int, n_pool: int, per_epoch: int, seed: int = 0, rank: int = 0, world: int = 1) -> None:
        super().__init__(n_ft + min(per_epoch, n_pool), True, seed, rank, world)
        self.n_ft, self.n_pool, self.per_epoch = n_ft, n_pool, min(per_epoch, n_pool)

    def order(self) -> np.ndarray:
        rng = np.random.default_rng(self.seed + self.epoch)
        replay = self.n_ft + rng.choice(self.n_pool, self.per_epoch, replace=False)
        return rng.permutation(np.concatenate([np.arange(self.n_ft), replay]))


def label_alignment(model, source):
    """The per-(dataset, fidelity) energy-label shifts the base model was pretrained with, as
    ``(shift, datasets, fidelities)``, or None when its training did not align energies.

    Refitted by training's own ``run_references`` on the same capped training split, so it is the very
    table pretraining used (the fit is deterministic)."""
    cfg = (getattr(model, "extra_config", None) or {}).get("training", {}).get("config") or {}
    if not cfg.get("data", {}).get("align_energies"):  # only when the recorded config says it aligned
        return None
    tc, capped = _pretraining_view(model, source)
    heads = list(tc.model.fidelities)
    datasets, fids = list(capped.datasets), list(capped.fidelities)
    ref = run_references(tc, capped, np.array([heads.index(f) for f in fids]))
    return ref.shift, datasets, fids


def align_labels(frames: Sequence[Frame], alignment, extra: dict[str, dict[int, float]] | None = None) -> list[Frame]:
    """Replay frames with energies put on their head's scale as in pretraining (``alignment`` from
    ``label_alignment``), plus ``extra[fidelity][Z]`` eV/atom where fine-tuning moved a head's E0."""
    out = []
    for f in frames:
        if f.energy is None:
            out.append(f)
            continue
        counts = np.bincount(f.numbers, minlength=119)
        e = f.energy
        if alignment is not None and f.dataset in alignment[1] and f.fidelity in alignment[2]:
            shift, datasets, fids = alignment
            e -= float(counts[:shift.shape[1]] @ shift[datasets.index(f.dataset) * len(fids) + fids.index(f.fidelity)])
        e += sum(counts[z] * d for z, d in (extra or {}).get(f.fidelity, {}).items())
        out.append(Frame(f.numbers, f.positions, f.cell, f.pbc, energy=e, forces=f.forces, stress=f.stress,
                         fidelity=f.fidelity, dataset=f.dataset, group=f.group, split=f.split, info=f.info))
    return out
