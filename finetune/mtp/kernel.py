"""Build (once, cached by source hash) and call the compiled MTP kernel through ctypes."""

from __future__ import annotations

import ctypes
import hashlib
import os
import threading
from pathlib import Path

import numpy as np

from unihub.foundation.files import cache_dir as _cache_root

from .cxx import build_shared, compiler
from .mtpfile import MTPParams

_SRC = Path(__file__).parent / "kernel"
_SOURCES = ("mtp_core.hpp", "mtp_capi.cpp")
_FLAGS = ["-O3", "-std=c++17", "-fPIC", "-shared", "-fopenmp", "-ffp-contract=off"]
_lib = None
_lock = threading.Lock()

_d = ctypes.POINTER(ctypes.c_double)
_i32 = ctypes.POINTER(ctypes.c_int)
_i64 = ctypes.POINTER(ctypes.c_int64)


def cache_dir() -> Path:
    """Where compiled kernels and plugins live: ``<unihub cache>/mtp``."""
    return _cache_root() / "mtp"


def _build() -> Path:
    h = hashlib.sha256()
    for name in _SOURCES:
        h.update((_SRC / name).read_bytes())
    h.update(" ".join([compiler(), *_FLAGS]).encode())
    target = cache_dir() / f"libmtp-{h.hexdigest()[:16]}.so"
    if target.exists():
        return target
    return build_shared([*_FLAGS, str(_SRC / "mtp_capi.cpp")], target, "the MTP kernel (C++ with OpenMP)")


def library() -> ctypes.CDLL:
    """The loaded kernel, compiled at first use."""
    global _lib
    with _lock:
        if _lib is None:
            lib = ctypes.CDLL(str(_build()))
            lib.mtp_create.restype = ctypes.c_void_p
            lib.mtp_create.argtypes = [ctypes.c_int] * 3 + [ctypes.c_double] * 3 + [
                ctypes.c_int, _i32, ctypes.c_int, _i32, ctypes.c_int, _i32, ctypes.c_int]
            lib.mtp_destroy.argtypes = [ctypes.c_void_p]
            lib.mtp_set_params.argtypes = [ctypes.c_void_p, _d, _d, _d]
            lib.mtp_set_floor.argtypes = [ctypes.c_void_p, _d, ctypes.c_double]
            lib.mtp_compute.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, _i32, _i64, _i64, _d,
                                        _d, _d, _d, ctypes.c_int]
            ds = [ctypes.c_void_p, ctypes.c_int, _i64, _i32, _i64, _i64, _d]
            lib.mtp_efs_dataset.argtypes = ds + [_d, _d, _d, ctypes.c_int]
            lib.mtp_grad_dataset.argtypes = ds + [_d, _d, _d, _d, ctypes.c_int]
            lib.mtp_basis_dataset.argtypes = ds + [_d, _d, _d, ctypes.c_int]
            _lib = lib
    return _lib


def _ptr(a: np.ndarray, kind):
    return a.ctypes.data_as(kind)


def default_threads() -> int:
    env = os.environ.get("OMP_NUM_THREADS")
    if env and env.isdigit():
        return max(1, int(env))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class Kernel:
    """A compiled MTP bound to one contraction plan; coefficients can be swapped cheaply."""

    def __init__(self, params: MTPParams):
        if not params.trained:
            raise ValueError("the potential has no coefficients yet: fit it or call .initialized()")
        self.lib = library()
        p = params
        self.ns, self.nf, self.nb, self.nq = p.species_count, p.radial_funcs_count, p.radial_basis_size, p.n_scalar
        basic = np.ascontiguousarray(p.alpha_index_basic, dtype=np.int32)
        times = np.ascontiguousarray(p.alpha_index_times, dtype=np.int32)
        mapping = np.ascontiguousarray(p.alpha_moment_mapping, dtype=np.int32)
        self._h = self.lib.mtp_create(
            self.ns, self.nf, self.nb, float(p.min_dist), float(p.max_dist), float(p.scaling or 1.0),
            len(basic), _ptr(basic, _i32), len(times), _ptr(times, _i32), len(mapping), _ptr(mapping, _i32),
            int(p.alpha_moments_count))
        self.set_params(p.radial_coeffs, p.species_coeffs, p.moment_coeffs)

    @property
    def n_params(self) -> int:
        return self.ns + self.nq + self.ns * self.ns * self.nf * self.nb

    def set_floor(self, floor: np.ndarray | None, width: float = 0.1) -> None:
        """Floor the radial functions' distance per species pair (``floor`` [ns, ns] in Å; None: no floor)."""
        if floor is None:
            self.lib.mtp_set_floor(self._h, None, float(width))
            return
        self._floor = np.ascontiguousarray(floor, dtype=np.float64).reshape(self.ns, self.ns)
        self.lib.mtp_set_floor(self._h, _ptr(self._floor, _d), float(width))

    def set_params(self, radial, species, moment) -> None:
        self._keep = [np.ascontiguousarray(x, dtype=np.float64).ravel() for x in (radial, species, moment)]
        r, s, m = self._keep
        if r.size != self.ns * self.ns * self.nf * self.nb or s.size != self.ns or m.size != self.nq:
            raise ValueError("coefficient arrays do not match the potential's shape")
        self.lib.mtp_set_params(self._h, _ptr(r, _d), _ptr(s, _d), _ptr(m, _d))

    def __del__(self):
        h = getattr(self, "_h", None)
        if h:
            self.lib.mtp_destroy(h)
            self._h = None

    def compute(self, types: np.ndarray, nb_off: np.ndarray, nb_j: np.ndarray, rv: np.ndarray,
                n_total: int | None = None, threads: int | None = None):
        """Site energies, forces and virial (sum over pairs of dE/dr ⊗ r) of one configuration."""
        n = len(nb_off) - 1
        n_total = n if n_total is None else n_total
        types = np.ascontiguousarray(types, dtype=np.int32)
        e = np.empty(n)
        f = np.empty((n_total, 3))
        w = np.empty((3, 3))
        self.lib.mtp_compute(self._h, n, n_total, _ptr(types, _i32), _ptr(nb_off, _i64), _ptr(nb_j, _i64),
                             _ptr(rv, _d), _ptr(e, _d), _ptr(f, _d), _ptr(w, _d), threads or default_threads())
        return e, f, w

    def efs_dataset(self, ds, threads: int | None = None):
        """Energies (S), forces (N, 3) and virials (S, 3, 3) of a packed dataset."""
        e = np.empty(ds.n_structures)
        f = np.empty((ds.n_atoms, 3))
        w = np.empty((ds.n_structures, 3, 3))
        self.lib.mtp_efs_dataset(self._h, ds.n_structures, *ds.c_args(), _ptr(e, _d), _ptr(f, _d), _ptr(w, _d),
                                 threads or default_threads())
        return e, f, w

    def grad_dataset(self, ds, v: np.ndarray, strain: np.ndarray, a: np.ndarray,
                     threads: int | None = None) -> np.ndarray:
        """Per-structure gradients (S, n_params) of ``a*E + dE[t]`` w.r.t. the coefficients, where
        the neighbour-vector tangent is ``t_ij = v_j - v_i + strain_s @ r_ij``."""
        v = np.ascontiguousarray(v, dtype=np.float64)
        strain = np.ascontiguousarray(strain, dtype=np.float64)
        a = np.ascontiguousarray(a, dtype=np.float64)
        out = np.empty((ds.n_structures, self.n_params))
        self.lib.mtp_grad_dataset(self._h, ds.n_structures, *ds.c_args(), _ptr(v, _d), _ptr(strain, _d),
                                  _ptr(a, _d), _ptr(out, _d), threads or default_threads())
        return out

    def basis_dataset(self, ds, derivatives: bool = True, threads: int | None = None):
        """Per-atom scalar moments (N, nq); with derivatives also d(sum B)/dx (N, 3, nq) and the
        virial design (S, 3, 3, nq)."""
        B = np.empty((ds.n_atoms, self.nq))
        if derivatives:
            dB = np.empty((ds.n_atoms, 3, self.nq))
            wB = np.empty((ds.n_structures, 3, 3, self.nq))
            args = (_ptr(dB, _d), _ptr(wB, _d))
        else:
            dB = wB = None
            args = (None, None)
        self.lib.mtp_basis_dataset(self._h, ds.n_structures, *ds.c_args(), _ptr(B, _d), *args,
                                   threads or default_threads())
        return B, dB, wB
