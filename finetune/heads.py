"""Fidelity heads for fine-tuning: a new head initialised from the closest one, and E0 re-estimation."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from ase.data import atomic_numbers

from unihub.foundation.data.frame import Frame
from unihub.foundation.metrics import frame_errors


def predict_frames(model, frames: Sequence[Frame], head: str | int, forces: bool = True) -> list[dict]:
    """The model's predictions (energy, forces) for frames, all through one head."""
    return model.predict([f.to_atoms() for f in frames], head=head, forces=forces, stress=False)


def _counts(frames: Sequence[Frame], max_z: int) -> np.ndarray:
    return np.array([np.bincount(f.numbers, minlength=max_z + 1) for f in frames], dtype=float)


def residual_e0(model, frames: Sequence[Frame], head: str | int, preds: list[dict] | None = None,
                ridge: float = 1e-8) -> dict[int, float]:
    """Per-element shifts δ_Z solving E_dft − E_model ≈ Σ_Z n_Z δ_Z by least squares (frames with energies)."""
    labelled = [f for f in frames if f.energy is not None]
    if not labelled:
        raise ValueError("no fine-tune frame has an energy, so reference energies cannot be estimated; "
                         "label the frames or pass e0='keep'")
    preds = preds if preds is not None else predict_frames(model, labelled, head, forces=False)
    resid = np.array([f.energy - p["energy"] for f, p in zip(labelled, preds)])
    a = _counts(labelled, model.config.max_z)
    cols = np.flatnonzero(a.sum(axis=0))
    a = a[:, cols]
    # a tiny ridge keeps a fixed stoichiometry (collinear counts) solvable
    sol = np.linalg.solve(a.T @ a + ridge * len(resid) * np.eye(len(cols)), a.T @ resid)
    return {int(z): float(d) for z, d in zip(cols, sol)}


def apply_e0(model, head: str | int, e0: str | dict, frames: Sequence[Frame]) -> dict[int, float]:
    """Set the reference energies of ``head``: ``'estimate'`` (least squares on the model's residuals),
    ``'keep'``, or a dict {element symbol or Z: eV}. Returns the new values of the changed elements."""
    h = model.fidelity_index(head)
    refs = model.reference_energies
    if e0 == "keep":
        return {}
    if e0 == "estimate":
        changes = {z: float(refs[h, z]) + d for z, d in residual_e0(model, frames, h).items()}
    elif isinstance(e0, dict):
        changes = {atomic_numbers[k] if isinstance(k, str) else int(k): float(v) for k, v in e0.items()}
    else:
        raise ValueError(f"e0 must be 'estimate', 'keep' or a dict {{element: eV}}, got {e0!r}")
    with torch.no_grad():
        for z, v in changes.items():
            refs[h, z] = v
    return changes


def closest_head(model, frames: Sequence[Frame], max_frames: int = 32) -> str:
    """The head whose predictions fit ``frames`` best by :func:`unihub.foundation.metrics.frame_errors`:
    lowest force MAE, ties broken by the aligned energy MAE (energies after the best per-element offset, the
    E0 refit a new head gets, so a constant per-element offset does not count)."""
    sample = list(frames)[:max_frames]
    scores = {}
    for name in model.config.fidelities:
        # offsets fitted however few frames pin them, as apply_e0 refits a new head's E0 on these same frames
        err = frame_errors(sample, predict_frames(model, sample, name), min_per_offset=0)
        scores[name] = (err.get("force_mae_meV_A", np.inf), err.get("energy_mae_meV_atom_aligned", np.inf))
    return min(scores, key=scores.get)


def add_head(model, name: str, init_from: str | int):
    """A copy of ``model`` with one more fidelity head ``name``, a copy of head ``init_from``
    (its fidelity-embedding row, reference energies and seen elements)."""
    name = name.lower()
    if name in model.config.fidelities:
        raise ValueError(f"the model already has a head {name!r}; pick another name or fine-tune that head")
    src = model.fidelity_index(init_from)
    cfg = copy.deepcopy(model.config)
    cfg.fidelities = [*cfg.fidelities, name]
    new = type(model)(cfg).to(model.reference_energies.dtype)
    state = model.state_dict()
    grow = {"fidelity_embedding.weight", "reference_energies", "seen_elements"}
    new.load_state_dict({k: v for k, v in state.items() if k not in grow}, strict=False)
    with torch.no_grad():
        for key in grow:
            old = state[key]
            target = new.state_dict()[key]
            target.copy_(torch.cat([old, old[src:src + 1]]))
    for attr in ("name", "card", "extra_config"):
        if hasattr(model, attr):
            setattr(new, attr, copy.deepcopy(getattr(model, attr)))
    return new
