"""Figures for the report, returned as PNG bytes (the report embeds them as base64).

Every figure carries a footer naming its dataset and the model revisions it shows, so a PNG cut out of a
report still says where it came from.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np

_ROWS = [  # symbols of the periodic table by period; None marks an empty cell (18 columns)
    ["H"] + [None] * 16 + ["He"],
    ["Li", "Be"] + [None] * 10 + ["B", "C", "N", "O", "F", "Ne"],
    ["Na", "Mg"] + [None] * 10 + ["Al", "Si", "P", "S", "Cl", "Ar"],
    "K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr".split(),
    "Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe".split(),
    "Cs Ba La Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn".split(),
    "Fr Ra Ac Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og".split(),
]
_F_BLOCK = ["Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu".split(), "Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr".split()]


def _table_positions() -> dict[str, tuple[int, int]]:
    pos = {s: (r, c) for r, row in enumerate(_ROWS) for c, s in enumerate(row) if s}
    for r, row in enumerate(_F_BLOCK):
        pos.update({s: (r + 8, c + 3) for c, s in enumerate(row)})
    return pos


def _plt():
    # pyplot after choosing the Agg backend, and only here: a module-level choice would set the importer's backend
    import matplotlib

    matplotlib.use("Agg")  # headless; never opens a window
    import matplotlib.pyplot as plt

    return plt


FOOTER_PT = 6  # footer font size (points)
CLIP_PERCENTILE = 99.5  # parity axes end at this percentile of |value|, pooled over models


def _png(fig, footer: str) -> bytes:
    """PNG bytes of ``fig`` with ``footer`` wrapped to the figure's width in a strip of its own below the axes."""
    width_in, height_in = fig.get_size_inches()
    chars = max(20, int(width_in * 72 / (FOOTER_PT * 0.55)))  # a 6-pt sans-serif glyph is ~0.55 em wide
    text = "\n".join(textwrap.wrap(footer, chars)) or " "
    strip = (text.count("\n") + 1) * FOOTER_PT * 1.35 / 72 / height_in + 0.01
    # the axes, labels and colour bars are laid out above the strip, so the footer never covers them
    fig.tight_layout(rect=(0, strip, 1, 1))
    fig.text(0.01, 0.005, text, fontsize=FOOTER_PT, color="0.35", ha="left", va="bottom")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    _plt().close(fig)
    return buf.getvalue()


def clip_series(series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                percentile: float = CLIP_PERCENTILE) -> tuple[dict, int, int, float]:
    """(series without pairs beyond the ``percentile`` of |value| pooled over all series, pairs dropped,
    pairs in all, the limit): a few extreme points must not squash the axes of everything else."""
    clean = {}
    for name, (x, y) in series.items():
        x, y = np.asarray(x, float), np.asarray(y, float)
        ok = np.isfinite(x) & np.isfinite(y)
        clean[name] = (x[ok], y[ok])
    pooled = np.abs(np.concatenate([np.concatenate(v) for v in clean.values()] or [np.zeros(0)]))
    if not len(pooled):
        return clean, 0, 0, float("nan")
    lim = float(np.percentile(pooled, percentile))
    kept, dropped, total = {}, 0, 0
    for name, (x, y) in clean.items():
        keep = (np.abs(x) <= lim) & (np.abs(y) <= lim)
        kept[name] = (x[keep], y[keep])
        total, dropped = total + len(x), dropped + int((~keep).sum())
    return kept, dropped, total, lim


def parity(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], xlabel: str, ylabel: str,
           title: str, footer: str, clip: float | None = CLIP_PERCENTILE) -> bytes:
    """Predicted vs reference, one colour per model; ``series[model] = (reference, predicted)``.

    Axes end at the ``clip`` percentile of |value| (None: all points); the figure says how many points it left out.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    if clip is not None:
        series, dropped, total, lim = clip_series(series, clip)
        if dropped:
            title = f"{title}\n{dropped} of {total} points beyond ±{lim:.3g} not drawn"
    lo, hi = np.inf, -np.inf
    for name, (x, y) in series.items():
        x, y = np.asarray(x, float), np.asarray(y, float)
        ok = np.isfinite(x) & np.isfinite(y)
        if not ok.any():
            continue
        if ok.sum() > 4000:  # a readable, small PNG: thin out dense clouds deterministically
            ok &= np.arange(len(x)) % int(np.ceil(ok.sum() / 4000)) == 0
        ax.scatter(x[ok], y[ok], s=5, alpha=0.5, label=name, linewidths=0)
        lo, hi = min(lo, x[ok].min(), y[ok].min()), max(hi, x[ok].max(), y[ok].max())
    if np.isfinite(lo):
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, markerscale=2)
    return _png(fig, footer)


def periodic_table(values: Mapping[str, float], label: str, title: str, footer: str) -> bytes:
    """A heat map of one value per element symbol on the periodic table (grey: no data)."""
    plt = _plt()
    pos = _table_positions()
    fig, ax = plt.subplots(figsize=(8.0, 4.4))
    finite = [v for v in values.values() if np.isfinite(v)]
    vmax = np.percentile(finite, 95) if finite else 1.0
    cmap = plt.get_cmap("viridis")
    for sym, (r, c) in pos.items():
        v = values.get(sym)
        color = cmap(min(v / vmax, 1.0)) if v is not None and np.isfinite(v) and vmax > 0 else (0.9, 0.9, 0.9)
        ax.add_patch(plt.Rectangle((c, -r), 0.95, 0.95, color=color))
        ax.text(c + 0.47, -r + 0.55, sym, ha="center", va="center", fontsize=6)
        if v is not None and np.isfinite(v):
            ax.text(c + 0.47, -r + 0.2, f"{v:.3g}", ha="center", va="center", fontsize=4.5)
    ax.set_xlim(0, 18)
    ax.set_ylim(-9.1, 1)
    ax.axis("off")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, vmax))
    fig.colorbar(sm, ax=ax, fraction=0.025, label=label)
    ax.set_title(title, fontsize=9)
    return _png(fig, footer)


def curves(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], xlabel: str, ylabel: str,
           title: str, footer: str, ylim: tuple[float, float] | None = None, log: bool = False) -> bytes:
    """Line plots, e.g. a dimer energy curve of DFT and every model; ``log``: both axes logarithmic and every
    point marked, for learning curves sampled at a few sizes."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.8, 3.4) if log else (4.2, 3.4))
    for name, (x, y) in series.items():
        style = "-o" if name == "DFT" or (log and len(x) > 2) else "-"
        ax.plot(x, y, style, ms=3 if log else 2, lw=1, label=name, color="k" if name == "DFT" else None)
    if log:
        # matplotlib loads with the first plot (_plt), never at import of this module
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.set_xscale("log")
        ax.set_yscale("log")
        # plain numbers at the sampled sizes and at 1-2-5 steps: log-axis minor labels collide or vanish
        sampled = sorted({float(v) for x, _ in series.values() if len(x) > 2 for v in x})
        if sampled:
            ax.set_xticks(sampled)
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            axis.set_minor_formatter(NullFormatter())
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    if log:  # beside the axes, where it hides no curve
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    else:
        ax.legend(fontsize=7)
    return _png(fig, footer)


def bars(values: Mapping[str, float], ylabel: str, title: str, footer: str) -> bytes:
    """One bar per model."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    names = list(values)
    ax.bar(names, [values[n] for n in names], color=[f"C{i}" for i in range(len(names))])
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", labelsize=7)
    return _png(fig, footer)


def pareto(points: Mapping[str, tuple[float, float]], xlabel: str, ylabel: str, title: str, footer: str,
           hlines: Mapping[str, float] | None = None, vlines: Mapping[str, float] | None = None) -> bytes:
    """Accuracy (y, lower is better) against cost (x, log scale); the Pareto front is drawn as a step line,
    and named targets as dotted horizontal (error) and vertical (cost) lines."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    for k, (name, y) in enumerate((hlines or {}).items()):
        ax.axhline(y, color=f"C{k + 3}", ls=":", lw=1, label=name)
    for k, (name, x) in enumerate((vlines or {}).items()):
        ax.axvline(x, color=f"C{k + 6}", ls=":", lw=1, label=name)
    pts = {k: v for k, v in points.items() if np.isfinite(v[0]) and np.isfinite(v[1])}
    for i, (name, (x, y)) in enumerate(pts.items()):
        ax.scatter([x], [y], color=f"C{i}", s=30, zorder=3)
        ax.annotate(name, (x, y), fontsize=7, xytext=(4, 4), textcoords="offset points")
    front = pareto_front(pts)
    if len(front) > 1:
        fx, fy = zip(*(pts[n] for n in front))
        ax.step(fx, fy, where="post", color="0.4", lw=1, ls="--", label="Pareto front")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    return _png(fig, footer)


def pareto_front(points: Mapping[str, tuple[float, float]]) -> list[str]:
    """Names of the points no other point beats on both cost (x) and error (y), by increasing cost."""
    front, best = [], np.inf
    for name, (_, y) in sorted(points.items(), key=lambda kv: (kv[1][0], kv[1][1])):
        if y < best:
            front.append(name)
            best = y
    return front
