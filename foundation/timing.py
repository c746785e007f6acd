"""One timing harness: untimed warm-up calls, repeated timed calls, their median, and the machine's load
average before and after, so a number measured on a busy machine says so.

Used for every cost figure (the ``cost`` suite, ``bench/``); ratios between models hold when they are
timed side by side in one run, absolute numbers only on the machine that made them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages (NaN where the platform has none)."""
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def load_text(load: tuple[float, float, float] | None = None) -> str:
    """``"load 1.02 0.98 0.91"``: the given (default: current) 1/5/15-minute load averages."""
    return "load " + " ".join(f"{x:.2f}" for x in (load if load is not None else load_average()))


@dataclass
class Timing:
    """Seconds of each timed call, how many untimed warm-up calls came first, and the load around them."""

    times_s: list[float]
    warmup: int
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]

    @property
    def median_s(self) -> float:
        return float(np.median(self.times_s))

    def us_per(self, n: int) -> float:
        """Median microseconds per unit when one call does ``n`` units (atoms: µs per atom-step)."""
        return 1e6 * self.median_s / n

    @property
    def load(self) -> str:
        """``"load 1.02 0.98 0.91 -> 1.10 1.00 0.92"``: the 1/5/15-minute load averages before and after."""
        return f"{load_text(self.load_before)} -> {load_text(self.load_after)[5:]}"


def time_calls(call: Callable[[int], object], repeats: int, warmup: int = 1,
               prepare: Callable[[int], object] | None = None) -> Timing:
    """Time ``call(k)`` for k in 0..repeats-1 after ``warmup`` untimed calls; ``prepare(k)`` runs untimed
    before every call (warm-up ones included, with negative k)."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    before = load_average()
    for k in range(-warmup, 0):
        if prepare is not None:
            prepare(k)
        call(k)
    times = []
    for k in range(repeats):
        if prepare is not None:
            prepare(k)
        t = time.perf_counter()
        call(k)
        times.append(time.perf_counter() - t)
    return Timing(times, warmup, before, load_average())


def time_calculator(calc, atoms, repeats: int, warmup: int = 1, stress: bool = True, seed: int = 0) -> Timing:
    """Energy + forces (+ stress) calls of an ASE calculator on a copy of ``atoms`` (``calc`` None: the
    calculator ``atoms`` carries), every atom displaced by up to 1e-3 Å before each call so that no result
    is served from a cache."""
    a = atoms.copy()
    a.calc = calc if calc is not None else atoms.calc
    rng = np.random.default_rng(seed)

    def displace(_k: int) -> None:
        a.positions = a.positions + rng.uniform(-1e-3, 1e-3, a.positions.shape)

    def call(_k: int) -> None:
        a.get_forces()
        if stress:
            a.get_stress()

    return time_calls(call, repeats, warmup, prepare=displace)
