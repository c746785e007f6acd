"""MTP basis templates generated from the level rule.

A moment tensor ``M[mu, nu]`` has level ``2 + 4*mu + nu``. A basis function is a product of
scalar contractions of moments; its level is the sum of its moments' levels. Following the
MLIP-2 untrained templates, a basis function uses at most four moments, never contracts a
moment with itself (that would reduce to a lower moment because neighbour directions are unit
vectors), and every contraction is complete (the result is a scalar).

Contractions are written in MLIP's ``alpha_index_times`` form: every tensor is a list of
scalar components ("alphas"); basic alphas are the components ``(mu, a, b, c)`` of the moments,
and each ``(i, j, mult, k)`` entry adds ``mult * alpha[i] * alpha[j]`` to ``alpha[k]``.
Intermediate tensors keep the free indices that came from one moment as a symmetric group, so
a component is a tuple of monomials (one per group).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache
from math import factorial

import numpy as np

MAX_MOMENTS = 4  # MLIP-2 templates never multiply more than four moment tensors

Label = tuple[int, int]  # (mu, nu)
Monomial = tuple[int, int, int]


def moment_level(mu: int, nu: int) -> int:
    """Level of the moment tensor ``M[mu, nu]``."""
    return 2 + 4 * mu + nu


@cache
def monomials(degree: int) -> tuple[Monomial, ...]:
    """Powers ``(a, b, c)`` with ``a+b+c = degree`` in MLIP order (a descending, then b)."""
    return tuple((a, b, degree - a - b) for a in range(degree, -1, -1) for b in range(degree - a, -1, -1))


def multinomial(m: Monomial) -> int:
    """Number of index tuples in ``{x,y,z}^|m|`` that share the monomial ``m``."""
    return factorial(sum(m)) // (factorial(m[0]) * factorial(m[1]) * factorial(m[2]))


@dataclass(frozen=True)
class Graph:
    """A connected contraction of moments: vertex labels and edge multiplicities (p < q)."""

    labels: tuple[Label, ...]
    edges: tuple[tuple[int, int, int], ...]  # (p, q, multiplicity)

    @property
    def level(self) -> int:
        return sum(moment_level(*lab) for lab in self.labels)


def _canonical(labels: tuple[Label, ...], emat: dict[tuple[int, int], int]) -> Graph:
    n = len(labels)
    best = None
    for perm in itertools.permutations(range(n)):
        labs = tuple(labels[p] for p in perm)
        em = tuple(emat.get((min(perm[p], perm[q]), max(perm[p], perm[q])), 0)
                   for p in range(n) for q in range(p + 1, n))
        key = (labs, tuple(-e for e in em))  # prefer heavy edges between early vertices
        if best is None or key < best[0]:
            best = (key, labs, em)
    _, labs, em = best
    pairs = [(p, q) for p in range(n) for q in range(p + 1, n)]
    return Graph(labs, tuple((p, q, e) for (p, q), e in zip(pairs, em) if e))


def _connected(n: int, emat: dict[tuple[int, int], int]) -> bool:
    seen, stack = {0}, [0]
    while stack:
        v = stack.pop()
        for (p, q), e in emat.items():
            if e and v in (p, q):
                w = q if v == p else p
                if w not in seen:
                    seen.add(w)
                    stack.append(w)
    return len(seen) == n


def connected_graphs(max_level: int) -> list[Graph]:
    """All connected, self-loop-free scalar contractions with level <= ``max_level``."""
    out: set[Graph] = set()
    # single moments: only rank-0 tensors are scalars on their own
    for mu in range(max_level):
        if moment_level(mu, 0) <= max_level:
            out.add(Graph(((mu, 0),), ()))
    labels = [(mu, nu) for mu in range(max_level) for nu in range(1, max_level)
              if moment_level(mu, nu) <= max_level]
    for n in range(2, MAX_MOMENTS + 1):
        for labs in itertools.combinations_with_replacement(sorted(labels), n):
            if sum(moment_level(*lab) for lab in labs) > max_level:
                continue
            pairs = [(p, q) for p in range(n) for q in range(p + 1, n)]
            degrees = [lab[1] for lab in labs]
            for mult in itertools.product(*[range(min(degrees[p], degrees[q]) + 1) for p, q in pairs]):
                deg = [0] * n
                for (p, q), e in zip(pairs, mult):
                    deg[p] += e
                    deg[q] += e
                if deg != degrees:
                    continue
                emat = dict(zip(pairs, mult))
                if _connected(n, emat):
                    out.add(_canonical(labs, emat))
    return sorted(out, key=lambda g: (g.level, len(g.labels), g.labels, g.edges))


def basis_functions(max_level: int) -> list[tuple[Graph, ...]]:
    """Products of connected contractions (multisets), level <= max_level, <= 4 moments."""
    comps = connected_graphs(max_level)
    result: list[tuple[Graph, ...]] = []

    def extend(start: int, chosen: list[Graph], level: int, nmom: int) -> None:
        if chosen:
            result.append(tuple(chosen))
        for k in range(start, len(comps)):
            g = comps[k]
            if level + g.level <= max_level and nmom + len(g.labels) <= MAX_MOMENTS:
                extend(k, chosen + [g], level + g.level, nmom + len(g.labels))

    extend(0, [], 0, 0)
    result.sort(key=lambda fs: (sum(g.level for g in fs), len(fs), [(g.level, g.labels, g.edges) for g in fs]))
    return result


@dataclass
class Template:
    """The contraction plan of an untrained MTP (the ``alpha_*`` fields of a ``.mtp`` file)."""

    level: int
    radial_funcs_count: int
    alpha_index_basic: np.ndarray  # (n_basic, 4): mu, a, b, c
    alpha_index_times: np.ndarray  # (n_times, 4): i, j, mult, out
    alpha_moment_mapping: np.ndarray  # (n_scalar,)

    @property
    def alpha_moments_count(self) -> int:
        n = len(self.alpha_index_basic)
        return max(n, int(self.alpha_index_times[:, 3].max()) + 1) if len(self.alpha_index_times) else n


class _Builder:
    """Emits alphas and times entries, sharing identical intermediate tensors."""

    def __init__(self, basic: list[tuple[int, Monomial]]):
        self.basic_index = {b: i for i, b in enumerate(basic)}
        self.n_alpha = len(basic)
        self.times: list[tuple[int, int, int, int]] = []
        self.memo: dict = {}

    def moment(self, label: Label) -> tuple[tuple[int, ...], dict]:
        """A moment as a tensor: groups (one of size nu) and component -> alpha map."""
        mu, nu = label
        if nu == 0:
            return (), {(): self.basic_index[(mu, (0, 0, 0))]}
        return (nu,), {(m,): self.basic_index[(mu, m)] for m in monomials(nu)}

    def contract(self, key, left, right_label: Label, s: tuple[int, ...]):
        """Contract tensor ``left`` (groups, comps) with moment ``right_label`` over ``s[k]``
        indices of each left group; returns the new (groups, comps)."""
        memo_key = (key, right_label, s)
        if memo_key in self.memo:
            return self.memo[memo_key]
        lgroups, lcomps = left
        rgroups, rcomps = self.moment(right_label)
        nu = right_label[1]
        r_left = nu - sum(s)
        keep = [g - sk for g, sk in zip(lgroups, s)]
        out_groups = tuple(k for k in keep if k > 0) + ((r_left,) if r_left > 0 else ())
        out_comps: dict = {}
        terms: dict[tuple, dict[tuple[int, int], int]] = {}
        free_sets = [monomials(k) for k in keep if k > 0] + ([monomials(r_left)] if r_left > 0 else [])
        for free in itertools.product(*free_sets):
            acc: dict[tuple[int, int], int] = {}
            for q in itertools.product(*[monomials(sk) for sk in s]):
                lidx, fi = [], 0
                for g, sk, qk in zip(lgroups, s, q):
                    if g - sk > 0:
                        p = free[fi]
                        fi += 1
                        lidx.append(tuple(x + y for x, y in zip(p, qk)))
                    else:
                        lidx.append(qk)
                qsum = tuple(sum(v) for v in zip(*q)) if q else (0, 0, 0)
                rmono = tuple(x + y for x, y in zip(free[fi], qsum)) if r_left > 0 else qsum
                rcomp = (rmono,) if nu > 0 else ()
                mult = 1
                for qk in q:
                    mult *= multinomial(qk)
                pair = (lcomps[tuple(lidx)], rcomps[rcomp])
                acc[pair] = acc.get(pair, 0) + mult
            terms[free] = acc
        for free, acc in terms.items():
            out = self.n_alpha
            self.n_alpha += 1
            for (i, j), mult in acc.items():
                self.times.append((i, j, mult, out))
            out_comps[free] = out
        result = (out_groups, out_comps)
        self.memo[memo_key] = result
        return result

    def product(self, a: int, b: int) -> int:
        key = ("prod", min(a, b), max(a, b))
        if key not in self.memo:
            out = self.n_alpha
            self.n_alpha += 1
            self.times.append((min(a, b), max(a, b), 1, out))
            self.memo[key] = out
        return self.memo[key]

    def graph(self, g: Graph) -> int:
        """Alpha index of the scalar value of connected contraction ``g``."""
        key = ("graph", g)
        if key in self.memo:
            return self.memo[key]
        n = len(g.labels)
        if n == 1:
            idx = self.moment(g.labels[0])[1][()]
            self.memo[key] = idx
            return idx
        emat = {}
        for p, q, e in g.edges:
            emat[(p, q)] = emat[(q, p)] = e
        order = [0]
        while len(order) < n:
            rest = [v for v in range(n) if v not in order]
            order.append(max(rest, key=lambda v: (sum(emat.get((u, v), 0) for u in order), -v)))
        tensor = self.moment(g.labels[order[0]])
        tkey: tuple = ("M", g.labels[order[0]])
        group_vertex = [order[0]]
        for step, v in enumerate(order[1:], start=1):
            s = tuple(emat.get((u, v), 0) for u in group_vertex)
            remaining = [u for u in order[step + 1:]]
            tensor = self.contract(tkey, tensor, g.labels[v], s)
            tkey = (tkey, g.labels[v], s)
            # a group survives only while its vertex still has uncontracted indices
            new_vertices = [u for u, k in zip(group_vertex, s) if self._left(g, u, order[:step + 1], emat) > 0]
            if g.labels[v][1] - sum(s) > 0:
                new_vertices.append(v)
            group_vertex = new_vertices
            del remaining
        groups, comps = tensor
        assert groups == (), "contraction did not end in a scalar"
        idx = comps[()]
        self.memo[key] = idx
        return idx

    @staticmethod
    def _left(g: Graph, u: int, done: list[int], emat: dict) -> int:
        return g.labels[u][1] - sum(emat.get((u, w), 0) for w in done if w != u)

    def function(self, factors: tuple[Graph, ...]) -> int:
        """Alpha index of a product of connected contractions (rightmost factors first)."""
        idx = self.graph(factors[-1])
        for g in reversed(factors[:-1]):
            idx = self.product(self.graph(g), idx)
        return idx


@cache
def _template(max_level: int) -> Template:
    funcs = basis_functions(max_level)
    max_nu: dict[int, int] = {}
    for fs in funcs:
        for g in fs:
            for mu, nu in g.labels:
                max_nu[mu] = max(max_nu.get(mu, 0), nu)
    basic = [(mu, m) for mu in sorted(max_nu) for nu in range(max_nu[mu] + 1) for m in monomials(nu)]
    b = _Builder(basic)
    mapping = [b.function(fs) for fs in funcs]
    return Template(
        level=max_level,
        radial_funcs_count=max(max_nu) + 1,
        alpha_index_basic=np.array([(mu, *m) for mu, m in basic], dtype=np.int64).reshape(-1, 4),
        alpha_index_times=np.array(b.times, dtype=np.int64).reshape(-1, 4),
        alpha_moment_mapping=np.array(mapping, dtype=np.int64),
    )


def make_template(level: int) -> Template:
    """The untrained MTP template of the given (even) level, 2 ... 28."""
    if level < 2 or level > 28 or level % 2:
        raise ValueError(f"MTP level must be an even number in 2..28, got {level}")
    t = _template(level)
    return Template(t.level, t.radial_funcs_count, t.alpha_index_basic.copy(),
                    t.alpha_index_times.copy(), t.alpha_moment_mapping.copy())
