"""Fitting an MTP to labelled frames.

Loss (per-quantity means, so weights are comparable across datasets)::

    L = w_E mean_s (dE_s/N_s)^2 + w_F mean_components(dF^2) + w_S mean_components(dS_GPa^2)

With ``force_relative`` F0 the force mean is weighted per atom by (F0 / (|F_ref| + F0))^2, the
relative force error of DeePMD-kit's ``relative_f``: hot, high-force frames then stop dominating
the squared loss, and a small model spends its capacity near equilibrium.

First linear least squares for the species and moment coefficients at fixed radial
coefficients, then BFGS over all coefficients, then a final linear solve. The gradient of
the force and stress terms comes from one extra kernel pass: the force/stress residuals define
a tangent of the neighbour vectors, and the kernel differentiates ``a*E + dE[tangent]`` with
respect to the coefficients (forward-over-reverse), so no per-pair Jacobian is ever stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from scipy.optimize import minimize
from tqdm.auto import tqdm

from unihub.foundation.data.frame import Frame
from unihub.foundation.data.units import EV_A3_TO_GPA
from unihub.foundation.metrics import array_errors

from .calculator import type_map
from .model import MTPModel
from .neighbors import PackedDataset

log = logging.getLogger(__name__)


@dataclass
class FitConfig:
    energy_weight: float = 1.0  # on (eV/atom)^2
    force_weight: float = 0.01  # on (eV/Å)^2
    stress_weight: float = 1e-4  # on GPa^2
    force_relative: float | None = None  # eV/Å: per-atom force weights (F0 / (|F_ref| + F0))^2
    max_iter: int = 500
    bfgs_max_params: int = 3000
    seed: int = 0
    threads: int | None = None
    ridge: float = 1e-10  # relative Tikhonov term of the linear solves
    progress: bool = True


@dataclass
class Labels:
    """Reference labels aligned with a :class:`PackedDataset`."""

    energy: np.ndarray  # (S,)
    forces: np.ndarray  # (N, 3), nan where missing
    stress: np.ndarray  # (S, 3, 3) eV/Å^3, nan where missing
    n_atoms: np.ndarray  # (S,)


@dataclass
class FitResult:
    train: dict
    valid: dict | None
    history: list[float] = field(default_factory=list)
    seconds: float = 0.0


def _frame_tuple(f):
    """(numbers, positions, cell, pbc, energy, forces, stress) from a Frame or ASE Atoms."""
    if hasattr(f, "get_positions"):  # ASE Atoms with a single-point calculator

        f = Frame.from_atoms(f)
    return f.numbers, f.positions, f.cell, f.pbc, f.energy, f.forces, f.stress


def prepare(model: MTPModel, frames: Sequence) -> tuple[PackedDataset, Labels]:
    """Neighbour lists and labels of ``frames`` (``Frame`` objects or labelled ``Atoms``); with a core on the
    model, the labels less the core's share."""
    rows = [_frame_tuple(f) for f in frames]
    if not rows:
        raise ValueError("no frames to fit")
    if any(r[4] is None for r in rows):
        raise ValueError("every training frame needs an energy label")
    ds = PackedDataset.pack(((r[0], r[1], r[2], r[3]) for r in rows), type_map(model.params), model.cutoff)
    n_atoms = np.diff(ds.atom_off)
    forces = np.concatenate([np.full((len(r[0]), 3), np.nan) if r[5] is None else np.asarray(r[5], float)
                             for r in rows])
    stress = np.stack([np.full((3, 3), np.nan) if r[6] is None or not np.all(r[3]) else np.asarray(r[6], float)
                       for r in rows])
    energy = np.array([r[4] for r in rows], float)
    if model.core is not None:  # the MTP is fitted to what the core leaves
        _subtract_core(model.core, rows, energy, forces, stress)
    return ds, Labels(energy, forces, stress, n_atoms)


def _subtract_core(core, rows: list, energy: np.ndarray, forces: np.ndarray, stress: np.ndarray) -> None:
    """Take ``core``'s energy, forces and stress off the labels in place (NaN labels stay NaN)."""
    start = 0
    for s, r in enumerate(rows):
        ec, fc, sc = core.compute(Atoms(numbers=r[0], positions=r[1], cell=r[2], pbc=r[3]))
        energy[s] -= ec.sum()
        forces[start:start + len(r[0])] -= fc
        if sc is not None:
            stress[s] -= sc
        start += len(r[0])


class Objective:
    """Weighted loss and its gradient over a packed dataset."""

    def __init__(self, model: MTPModel, ds: PackedDataset, labels: Labels, cfg: FitConfig):
        self.model, self.ds, self.y, self.cfg = model, ds, labels, cfg
        self.kernel = model.kernel()
        p = model.params
        self.shapes = (p.species_count, p.n_scalar, p.radial_coeffs.size)
        self.f_mask = np.isfinite(labels.forces).all(axis=1)
        self.s_mask = np.isfinite(labels.stress).all(axis=(1, 2)) & np.isfinite(ds.volumes)
        self.f_weight = force_weights(labels.forces, cfg.force_relative)
        self.nE = len(labels.energy)
        self.nF = 3 * float(self.f_weight.sum()) or 1.0
        self.nS = max(1, 9 * int(self.s_mask.sum()))

    def theta(self) -> np.ndarray:
        p = self.model.params
        return np.concatenate([p.species_coeffs, p.moment_coeffs, p.radial_coeffs.ravel()])

    def set_theta(self, th: np.ndarray) -> None:
        a, b, _ = self.shapes
        self.model.set_coefficients(th[a + b:], th[:a], th[a:a + b])

    def residuals(self):
        e, f, w = self.kernel.efs_dataset(self.ds, self.cfg.threads)
        with np.errstate(invalid="ignore"):
            s = 0.5 * (w + w.transpose(0, 2, 1)) / self.ds.volumes[:, None, None]
        return e - self.y.energy, np.where(self.f_mask[:, None], f - self.y.forces, 0.0), \
            np.where(self.s_mask[:, None, None], s - self.y.stress, 0.0)

    def __call__(self, th: np.ndarray) -> tuple[float, np.ndarray]:
        c = self.cfg
        self.set_theta(th)
        dE, dF, dS = self.residuals()
        N = self.y.n_atoms
        wF = self.f_weight[:, None]
        loss = (c.energy_weight * np.sum((dE / N) ** 2) / self.nE + c.force_weight * np.sum(wF * dF ** 2) / self.nF
                + c.stress_weight * EV_A3_TO_GPA ** 2 * np.sum(dS ** 2) / self.nS)
        a = 2 * c.energy_weight * dE / N ** 2 / self.nE
        v = -2 * c.force_weight / self.nF * wF * dF  # dL/dF = -(tangent along which E is differentiated)
        strain = 2 * c.stress_weight * EV_A3_TO_GPA ** 2 / self.nS * np.nan_to_num(dS / self.ds.volumes[:, None, None])
        g = self.kernel.grad_dataset(self.ds, v, strain, a, c.threads).sum(axis=0)
        return float(loss), g

    def normalise_radial(self) -> None:
        """Rescale radial coefficients so the mean |M_00| over the data is 1: products of up
        to four moments then stay O(1), which keeps the nonlinear problem well conditioned."""
        p = self.model.params
        B, _, _ = self.kernel.basis_dataset(self.ds, False, self.cfg.threads)
        k0 = int(np.flatnonzero(p.alpha_moment_mapping == 0)[0]) if np.any(p.alpha_moment_mapping == 0) else None
        if k0 is None:
            return
        m00 = float(np.mean(np.abs(B[:, k0])))
        if m00 > 0:
            self.model.set_coefficients(p.radial_coeffs / m00, p.species_coeffs, p.moment_coeffs)

    def linear_solve(self) -> None:
        """Optimal species and moment coefficients for the current radial coefficients."""
        c, ds, y = self.cfg, self.ds, self.y
        B, dB, wB = self.kernel.basis_dataset(ds, True, c.threads)
        S, ns, nq = ds.n_structures, self.shapes[0], self.shapes[1]
        N = y.n_atoms
        counts = np.zeros((S, ns))
        np.add.at(counts, (np.repeat(np.arange(S), N), ds.types), 1.0)
        Bsum = np.add.reduceat(B, ds.atom_off[:-1], axis=0)
        rows, rhs = [], []
        we = np.sqrt(c.energy_weight / self.nE)
        rows.append(np.hstack([counts, Bsum]) / N[:, None] * we)
        rhs.append(y.energy / N * we)
        fm = self.f_mask
        wf = np.sqrt(c.force_weight / self.nF * np.repeat(self.f_weight[fm], 3))
        Af = -dB[fm].reshape(-1, nq) * wf[:, None]
        rows.append(np.hstack([np.zeros((len(Af), ns)), Af]))
        rhs.append(y.forces[fm].reshape(-1) * wf)
        sm = self.s_mask
        if sm.any():
            ws = np.sqrt(c.stress_weight / self.nS) * EV_A3_TO_GPA
            sym = 0.5 * (wB + wB.transpose(0, 2, 1, 3))[sm] / ds.volumes[sm, None, None, None]
            As = sym.reshape(-1, nq) * ws
            rows.append(np.hstack([np.zeros((len(As), ns)), As]))
            rhs.append(y.stress[sm].reshape(-1) * ws)
        A, b = np.vstack(rows), np.concatenate(rhs)
        # column scaling + tiny ridge keeps nearly collinear high-level moments solvable
        scale = np.linalg.norm(A, axis=0)
        scale[scale == 0] = 1.0
        As = A / scale
        H = As.T @ As
        H[np.diag_indices_from(H)] += c.ridge * np.trace(H) / len(H)
        x = np.linalg.solve(H, As.T @ b) / scale
        self.linear_scale = scale
        p = self.model.params
        self.model.set_coefficients(p.radial_coeffs, x[:ns], x[ns:])


def force_weights(forces: np.ndarray, relative: float | None = None) -> np.ndarray:
    """Per-atom weights of the force loss: 0 where a label is missing, else 1, or with ``relative``
    (F0, eV/Å) (F0 / (|F| + F0))^2, so an atom's term is its squared relative force error times F0^2."""
    have = np.isfinite(forces).all(axis=1)
    if relative is None:
        return have.astype(float)
    if not relative > 0:
        raise ValueError(f"force_relative must be a positive force scale in eV/Å, got {relative!r}")
    norm = np.linalg.norm(np.where(have[:, None], forces, 0.0), axis=1)
    return np.where(have, (relative / (norm + relative)) ** 2, 0.0)


def errors(model: MTPModel, ds: PackedDataset, y: Labels, threads: int | None = None) -> dict[str, float]:
    """:func:`unihub.foundation.metrics.array_errors` of the model on packed labels (energies raw and aligned,
    forces over components, stress over all nine components), with ``frames``."""
    e, f, w = model.kernel().efs_dataset(ds, threads)
    counts = np.zeros((ds.n_structures, int(ds.types.max(initial=-1)) + 1))
    np.add.at(counts, (np.repeat(np.arange(ds.n_structures), y.n_atoms), ds.types), 1)
    # the kernel's virial over the volume; NaN where not periodic in 3D, which array_errors leaves out
    stress = 0.5 * (w + w.transpose(0, 2, 1)) / ds.volumes[:, None, None]
    return {"frames": ds.n_structures, **array_errors(e, y.energy, counts, f, y.forces, stress, y.stress)}


def fit(model: MTPModel, train: Sequence, valid: Sequence | None = None, config: FitConfig | None = None,
        on_iteration: Callable[[int, float], None] | None = None, **overrides) -> FitResult:
    """Fit ``model`` in place to labelled ``train`` frames; report train/valid errors.

    ``on_iteration(iteration, loss)`` is called after every optimiser iteration."""
    cfg = config or FitConfig()
    for k, v in overrides.items():
        setattr(cfg, k, v)
    for k in ("energy_weight", "force_weight", "stress_weight"):
        if not (np.isfinite(getattr(cfg, k)) and getattr(cfg, k) >= 0):
            raise ValueError(f"{k} must be a finite weight >= 0, got {getattr(cfg, k)!r}")
    t0 = time.perf_counter()
    p = model.params
    fresh = p.radial_coeffs is None or bool(model.params.moment_coeffs is not None
                                             and not np.any(model.params.moment_coeffs))
    if p.radial_coeffs is None:
        model.params = p.initialized(cfg.seed)
        model._kernel = None
    ds, y = prepare(model, train)
    obj = Objective(model, ds, y, cfg)
    if fresh:
        obj.normalise_radial()
    obj.linear_solve()
    history: list[float] = []
    bar = tqdm(total=cfg.max_iter, desc="MTP fit", leave=False) if cfg.progress else None
    last = [float("nan")]
    # diagonal preconditioner: linear coefficients in units of their design-column norms
    ns, nq, _ = obj.shapes
    D = np.ones(len(obj.theta()))
    D[ns:ns + nq] = 1.0 / obj.linear_scale[ns:]
    D[:ns] = 1.0 / obj.linear_scale[:ns]

    def fun(x):
        val, g = obj(x * D)
        last[0] = val
        return val, g * D

    def callback(th):
        history.append(last[0])  # the accepted point is the last one evaluated
        if on_iteration is not None:
            obj.set_theta(th * D)
            on_iteration(len(history), last[0])
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{history[-1]:.3e}")

    if cfg.max_iter > 0:
        # full BFGS (as MLIP) while the inverse Hessian is small; it beats L-BFGS on this
        # ill-conditioned problem. L-BFGS beyond that (many species at high level).
        if len(D) <= cfg.bfgs_max_params:
            res = minimize(fun, obj.theta() / D, jac=True, method="BFGS", callback=callback,
                           options={"maxiter": cfg.max_iter, "gtol": 0.0, "c2": 0.9})
        else:
            res = minimize(fun, obj.theta() / D, jac=True, method="L-BFGS-B", callback=callback,
                           options={"maxiter": cfg.max_iter, "maxcor": 50, "ftol": 0.0, "gtol": 0.0})
        obj.set_theta(res.x * D)
    if bar is not None:
        bar.close()
    obj.linear_solve()
    train_err = errors(model, ds, y, cfg.threads)
    valid_err = None
    if valid is not None:
        vds, vy = prepare(model, valid)
        valid_err = errors(model, vds, vy, cfg.threads)
    return FitResult(train_err, valid_err, history, time.perf_counter() - t0)
