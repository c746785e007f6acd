"""Seeded, offline generator of realistic compounds across the periodic table, for a teacher to label.

Kinds (``KINDS``), interleaved: structures come in blocks of a base structure and one perturbed copy of it.

- ``prototype``: common prototypes (geometry from the AFLOW library pymatgen ships, plus olivine and
  ThCr2Si2 built here) decorated chemically: ionic ones with charge-balanced cations and anions of common
  oxidation states whose radius ratios suit the sites' coordination (Goldschmidt tolerance for perovskite),
  intermetallic ones with metals (size ratios where the type needs them, p-block elements on p-block sites).
- ``substituted``: relaxed MatterGen release compounds (``$UNIHUB_DATA/structures/mattergen_release.extxyz``)
  with elements replaced by similar ones (same common oxidation state and crystal radius within 20 %;
  metals by metals sharing a state, of similar size and electronegativity; p-block elements by their
  neighbours in the group), the cell rescaled by the change in bond lengths; at least one element changes.
- ``random_symmetric``: pyxtal random crystals of charge-balanced compositions in common space groups
  (skipped with a warning when pyxtal is not installed).
- perturbed copies (``PERTURBED``): ``strained`` (isotropic linear strain within ±10 %), ``sheared``
  (symmetric shear components within ±5 %), ``rattled`` (Gaussian, sigma 0.02-0.1 Å, on a supercell),
  ``vacancy`` (one atom removed from a supercell of at least 8 atoms).
- ``OPTIONAL`` copies, made only when ``kinds`` names them: ``wide_strained`` (isotropic linear strain of
  +10 to +30 % or -10 to -15 %, where a model trained on ``strained`` alone extrapolates its E(V) curve).

Default proportions of the stream (``BASE_WEIGHTS`` x ``PERTURB_WEIGHTS``, one copy per base):
prototype 20 %, substituted 15 %, random_symmetric 15 %, rattled 20 %, strained 12.5 %, sheared 10 %,
vacancy 7.5 %.

Elements: ``ELEMENTS`` is Z = 1..94 less ``EXCLUDED`` (noble gases, Po, At, Fr, Ra: absent or nearly so
from the teachers' training data). Every structure is built around a focus element drawn uniformly from
the elements its kind can place, so every element gets a fair share; partner anions follow
``ANION_WEIGHTS`` (oxides first, as in real chemistry), each ionic type admits only the anions real
compounds put on it (hydrides, carbides, pnictides where LiH, TiC, GaAs exist), a cation must not be
more electronegative than its anion (by more than 0.3), and an intermetallic has a true (s, d, f) metal.

Volumes are a first guess: nearest-neighbour bonds at the sums of Shannon crystal radii (ionic) or of
metallic radii (intermetallic); ``volume_scan`` makes the scaled copies a teacher refines it with.
Every structure passes ``check_contacts``: no pair closer than 0.6x the sum of covalent radii.

Each structure's ``info``: ``id`` (``cmp-<args hash>-<seed>-<block>-<0 base | 1 copy>``), ``source`` (its
kind), ``prototype`` (name or ``-``), ``formula`` (reduced), ``parent`` (the base's id, itself for a base;
a base whose kind is not requested is not emitted but is rebuilt from that id's seed), and where known
``oxidation_states`` (``"Fe:+3 O:-2"``), ``strain`` (3x3), ``rattle`` (Å), ``supercell``, ``vacancy``,
``template`` (source structure of a substitution), ``space_group`` (drawn for random_symmetric).
Structure ``k`` of a stream depends only on (seed, arguments, k): a numpy Generator seeded from
(seed, block, copy) builds it, so a stream can be resumed from any id.

Modules, by kind: ``elements`` (element data), ``geometry``, ``prototypes``, ``substitution``,
``random_symmetric``, ``perturbations``, ``stream`` (the generator) and ``overlap`` (with benchmarks).
"""

from .elements import (
    ANION_STATES,
    ANION_WEIGHTS,
    ELEMENTS,
    EXCLUDED,
    assign_oxidation_states,
    cation_states,
    electronegativity,
    ionic_radius,
    metallic_radius,
    parse_oxidation_states,
)
from .geometry import GUARD, check_contacts, reduced_formula, supercell, volume_scan
from .overlap import BENCHMARKS, benchmark_keys, benchmark_overlap, structure_key
from .perturbations import OPTIONAL, PERTURB_WEIGHTS, PERTURBED
from .prototypes import PROTOTYPES, Prototype
from .random_symmetric import have_pyxtal
from .stream import BASE_KINDS, BASE_WEIGHTS, KINDS, generate_compounds
from .substitution import MATTERGEN, data_folder

__all__ = ["generate_compounds", "KINDS", "BASE_KINDS", "PERTURBED", "OPTIONAL", "BASE_WEIGHTS", "PERTURB_WEIGHTS",
           "ELEMENTS",
           "EXCLUDED", "GUARD", "MATTERGEN", "BENCHMARKS", "ANION_STATES", "ANION_WEIGHTS", "PROTOTYPES", "Prototype",
           "cation_states", "electronegativity", "ionic_radius", "metallic_radius", "assign_oxidation_states",
           "parse_oxidation_states", "check_contacts", "reduced_formula", "supercell", "volume_scan", "data_folder",
           "have_pyxtal", "structure_key", "benchmark_keys", "benchmark_overlap"]
