"""A teacher-labelled training set: generated structures put at the teacher's volume, then labelled.

Unperturbed structures (``info["parent"] == info["id"]``) get the volume the first teacher likes
best, from a short E(V) scan; their perturbed copies (strained, sheared, rattled, with a vacancy)
get their parent's volume factor, so a strain stays a strain around the teacher's equilibrium.
Sharding by parent keeps a parent and its copies in one process.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols
from ase.io import iread

from unihub.foundation.eos import birch_murnaghan
from unihub.foundation.files import sha256_file

from .compounds.perturbations import OPTIONAL, PERTURBED
from .compounds.stream import block_of
from .teachers import FilterRule, Teacher, label_to_file, state_path

SCAN = (0.90, 0.95, 1.0, 1.05, 1.10, 1.15)  # linear factors: a radii-based first guess is rarely further off


def fingerprint(structures: Iterable[Atoms], count: int = 16) -> str:
    """A short hash of the first ``count`` structures (ids, species, cell, positions to 1e-4 Å): two
    generator versions with the same fingerprint make the same sequence, so a run may resume."""
    h = hashlib.sha256()
    for k, atoms in enumerate(structures):
        if k == count:
            break
        h.update(str(atoms.info["id"]).encode())
        h.update(np.asarray(atoms.numbers, np.int64).tobytes())
        h.update(np.round(np.concatenate([atoms.cell.array, atoms.positions]), 4).tobytes())
    return h.hexdigest()[:16]


def volume_factor(atoms: Atoms, teacher: Teacher, scan: Sequence[float] = SCAN) -> float:
    """The linear scale factor of the cell at the teacher's E(V) minimum: the Birch-Murnaghan fit
    (:func:`unihub.foundation.eos.birch_murnaghan`) through the scan, which is widened once when its lowest
    point sits at an end. Where the fit finds no minimum between that point's neighbours, the lowest point."""
    scan = sorted(scan)
    for _ in range(2):
        energies = [teacher.predict([_scaled(atoms, s)])[0].energy for s in scan]
        k = int(np.argmin(energies))
        if 0 < k < len(scan) - 1:
            try:  # volumes in units of the input cell's: V = s³
                s0 = birch_murnaghan(np.power(scan, 3), energies)["V0"] ** (1 / 3)
            except ValueError:  # no convex minimum in the fitted curve
                return float(scan[k])
            return s0 if scan[k - 1] < s0 < scan[k + 1] else float(scan[k])
        step = scan[1] - scan[0]
        scan = [scan[k] + step * (i - len(scan) // 2) for i in range(len(scan))]
        scan = [s for s in scan if s > 0.5]
    return float(scan[int(np.argmin(energies))])


def in_shard(parent: str, shard: int, shards: int) -> bool:
    """Whether the structures of ``parent`` belong to ``shard`` of ``shards`` (a stable hash of the id)."""
    return int(hashlib.sha256(parent.encode()).hexdigest()[:8], 16) % shards == shard


def at_teacher_volume(structures: Iterable[Atoms], teacher: Teacher, shard: int = 0, shards: int = 1,
                      skip: Callable[[str], bool] = lambda _id: False) -> Iterator[Atoms]:
    """This shard's structures, each scaled by its parent's volume factor (``info["volume_factor"]``).

    ``skip(id)`` tells which structures are already labelled: they are passed over without a scan
    unless a later copy needs their factor.
    """
    factors: dict[str, float] = {}
    parents: dict[str, Atoms] = {}
    for atoms in structures:
        sid, parent = str(atoms.info["id"]), str(atoms.info.get("parent", atoms.info["id"]))
        if not in_shard(parent, shard, shards):
            continue
        if parent == sid:
            parents[sid] = atoms  # a copy may still need its factor after the parent was labelled
        if skip(sid):
            continue
        if parent not in factors:
            if parent not in parents:
                raise ValueError(f"structure {sid} comes before its parent {parent}: the generator must yield "
                                 "a parent before its perturbed copies")
            factors[parent] = volume_factor(parents[parent], teacher)
        out = _scaled(atoms, factors[parent])
        out.info["volume_factor"] = round(factors[parent], 6)
        yield out


def _finished(out: Path) -> set[str]:
    """Ids a labelling job into ``out`` has labelled or dropped."""
    state = state_path(out)
    if not state.exists():
        return set()
    s = json.loads(state.read_text())
    return set(s.get("done", [])) | set(s.get("dropped", []))


def resume_block(out: str | os.PathLike) -> int:
    """The generator block a resumed labelling job into ``out`` starts from: the last one it reached.

    Labelling finishes its stream in order, batch by batch, so every earlier block of its shard is done;
    starting there (its finished structures skipped) spares rebuilding the blocks before it.
    """
    return max((block_of(i) for i in _finished(Path(out))), default=0)


def label_generated(structures: Iterable[Atoms], teachers: Sequence[Teacher], out: str | os.PathLike,
                    shard: int = 0, shards: int = 1, batch_size: int = 16, log=None,
                    rule: FilterRule | None = None) -> dict:
    """Label this shard's structures at the first teacher's volume into ``out`` (resumable: see
    :func:`label_to_file`); returns its summary."""
    out = Path(out)
    done = _finished(out)
    stream = at_teacher_volume(structures, teachers[0], shard, shards, skip=lambda sid: sid in done)
    return label_to_file(stream, teachers, out, batch_size=batch_size, log=log, rule=rule)


def _scaled(atoms: Atoms, factor: float) -> Atoms:
    out = atoms.copy()
    out.set_cell(atoms.cell.array * factor, scale_atoms=True)
    out.calc = None
    return out


def teacher_set_card(name: str, files: Sequence[str | os.PathLike], command: str, seed: int,
                     generator: str, overlap: dict | None = None) -> tuple[dict, str]:
    """Front matter and prose of the data card of a labelled set made by ``command``.

    ``files`` are the finished shard files (each with its ``.state.json``); the card pins their sha256
    and records teachers, filter rule, counts per element and per source, and ``overlap`` (per
    benchmark, generated structures sharing reduced formula and space group with it)."""
    shards = _read_shards(name, files, command)
    meta = _card_meta(name, shards, command, generator)
    return meta, _card_prose(meta, shards, command, seed, generator, overlap)


@dataclass
class _Shards:
    """What a set's shard files hold together: their card entries, teachers, filter rules and counts."""

    entries: list[dict] = field(default_factory=list)
    teachers: list[dict] | None = None
    rules: set[str] = field(default_factory=set)  # each file's rule as sorted JSON
    per_element: Counter = field(default_factory=Counter)  # structures containing each element
    per_source: Counter = field(default_factory=Counter)
    frames: int = 0
    atoms: int = 0
    dropped: int = 0


def _read_shards(name: str, files: Sequence[str | os.PathLike], command: str) -> _Shards:
    """Each file checked against its labelling state (same teachers in all, sha256), its frames counted."""
    out = _Shards()
    for f in map(Path, files):
        state = json.loads(state_path(f).read_text())
        if out.teachers is not None and state["teachers"] != out.teachers:
            raise ValueError(f"{f} was labelled by other teachers than the other files of {name!r}")
        out.teachers = state["teachers"]
        out.rules.add(json.dumps(state["rule"], sort_keys=True))
        out.dropped += int(state["dropped_count"])
        digest = sha256_file(f)
        if digest != state["sha256"]:
            raise ValueError(f"{f} does not match its labelling state (sha256 {digest} vs {state['sha256']})")
        for a in iread(str(f), index=":", format="extxyz"):
            out.frames += 1
            out.atoms += len(a)
            out.per_source[str(a.info.get("source", "-"))] += 1
            out.per_element.update({chemical_symbols[z] for z in set(a.numbers.tolist())})
        out.entries.append({"path": f.name, "url": None, "sha256": digest, "bytes": f.stat().st_size,
                            "derived_from": {"method": f"generated and teacher-labelled: {command}",
                                             "sources": [{"teacher": t["name"], "revision": t["revision"],
                                                          "sha256": t["sha256"], "energy_scale": t["energy_scale"]}
                                                         for t in out.teachers]}})
    if not out.entries:
        raise ValueError(f"no labelled files for {name!r}")
    return out


def _card_meta(name: str, shards: _Shards, command: str, generator: str) -> dict:
    """The card's front matter."""
    teacher_names = ", ".join(f"{t['name']} {t['revision']}" for t in shards.teachers)
    return {
        "name": name, "title": f"Teacher-labelled compounds ({teacher_names}), {shards.frames} structures",
        "role": "generated", "folder": f"generated/{name}", "reader": "extxyz",
        "reader_options": {"group_by": "parent"}, "files": shards.entries,
        "source": {"repository": "generated here", "commit": generator, "paths": [command]},
        "license": {"labels": "made here from the teachers' predictions; the teachers' own licences apply to them"},
        "dataset_license": "as the teachers' packages (chgnet: Modified BSD; sevenn: MIT)",
        "dft_code": "none: labels are the mean prediction of the teachers",
        "functional": "raw MP GGA/GGA+U scale, as the teachers were trained on MPtrj",
        "fidelity": "mptrj", "energy_reference": "total",
        "units": {"energy": "eV per structure (teacher mean)", "forces": "eV/Å", "stress": "eV/Å³, ASE sign"},
        "elements": sorted(shards.per_element, key=chemical_symbols.index),
        "counts": {"frames": shards.frames, "atoms": shards.atoms},
        "splits": {"method": "by_group", "fractions": {"train": 0.95, "val": 0.05, "test": 0.0},
                   "group": "parent structure (a generated crystal and its perturbed copies)"},
        "citation": "the teachers' papers (CHGNet: Deng et al., Nat. Mach. Intell. 5, 1031 (2023); SevenNet: "
                    "Park et al., J. Chem. Theory Comput. 20, 4857 (2024))",
    }


def _card_prose(meta: dict, shards: _Shards, command: str, seed: int, generator: str,
                overlap: dict | None) -> str:
    """The card's text: provenance, teachers and filter, counts, benchmark overlap, splits, licence."""
    teachers, elements = shards.teachers, meta["elements"]
    counts = sorted(shards.per_element.values())
    rows = "\n".join(f"| {k} | {v} |" for k, v in shards.per_source.most_common())
    overlap_rows = "\n".join(f"| {k} | {v} |" for k, v in (overlap or {}).items()) or "| (not measured) | |"
    rule = json.loads(next(iter(shards.rules))) if len(shards.rules) == 1 else "differs between files"
    teacher_lines = "\n".join(f"- {t['name']} {t['revision']} (weights sha256 `{t['sha256']}`, energies "
                              f"`{t['energy_scale']}`)" for t in teachers)
    kinds = [k.replace("_", " ") for k in (*PERTURBED, *OPTIONAL) if shards.per_source.get(k)] or ["no"]
    copies = " or ".join(filter(None, [", ".join(kinds[:-1]), kinds[-1]]))
    return f"""
# {meta['title']}

Structures made by the compound generator (`unihub.finetune.distillation.compounds`, generator
revision `{generator}`, seed {seed}) and labelled by the mean of {len(teachers)} teachers on the raw
MPtrj energy scale (fidelity `mptrj`). Made by:

    {command}

## Provenance
Every structure is generated here: decorated prototypes with charge-balanced compositions, MatterGen
crystals with chemically similar substitutions, random symmetric crystals, and {copies} copies of
them (see the counts). Each unperturbed structure is first put at the first teacher's E(V)
minimum; its copies take the same volume factor. No structure comes from a benchmark or a test split.

## Teachers and label filter
{teacher_lines}

CHGNet-like teachers predict MP2020-corrected energies; their labels have pymatgen's
`MaterialsProject2020Compatibility` correction removed. Labels are the teachers' mean; each frame keeps
`energy_spread`, `force_std`, `teacher_energies` and a `weight` from the rule {rule}; {shards.dropped}
structures were dropped because the teachers disagreed beyond it.

## Counts
{shards.frames} structures, {shards.atoms} atoms, {len(elements)} elements (structures per element: min
{counts[0]}, median {counts[len(counts) // 2]}, max {counts[-1]}).

| source | structures |
|---|---|
{rows}

## Overlap with benchmarks
Generated structures whose reduced formula and space group match a benchmark structure:

| benchmark | structures |
|---|---|
{overlap_rows}

## Groups and splits
Grouped by parent, so a crystal and its perturbed copies share a split; 95 % train, 5 % validation.
Measurement is on real DFT (`mattersim_ood` and the other benchmarks), never on teacher labels.

## Licence
Labels derived from the teachers' predictions: the chgnet package is Modified BSD, sevenn MIT.

## Citation
{meta['citation']}
"""
