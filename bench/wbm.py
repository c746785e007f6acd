"""Formation energies on the WBM subset (DFT-relaxed structures, single points), ours and peers.

E_f = (E − Σ n_i μ_i) / N, compared with the file's formation energies: raw (uncorrected PBE/PBE+U)
and MP2020-corrected (what CHGNet is trained to predict). Two choices of elemental references μ:
``dft``: the lowest MP PBE energy per element (mp_elemental_refs); ``model``: each model's own lowest
energy per atom over the MP elemental polymorphs shipped in matpes_element_refs, which removes the
model's per-element offset against MP's PAW set.

    UNIHUB_DATA=../shared/data python bench/wbm.py [--model universal-v1] [--max 972]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from unihub.eval.suites.wbm import energies, formation, model_mu, mp_polymorphs

__all__ = ["energies", "formation", "main", "model_mu"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="universal-v1")
    p.add_argument("--peers", nargs="*", default=["chgnet", "sevennet-0"])
    p.add_argument("--max", type=int, default=972)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json")
    a = p.parse_args()
    import torch

    from unihub.foundation.data import load_dataset, load_mp_elemental_energies
    from unihub.zoo import load_model
    from unihub.zoo.peers import peer_available, peer_calculator

    torch.set_num_threads(a.threads)
    wbm = load_dataset("wbm_random_1000")[: a.max]
    polymorphs = mp_polymorphs({int(z) for f in wbm for z in f.numbers})
    mu_dft = load_mp_elemental_energies()
    model = load_model(a.model)
    predictors = {a.model: lambda f: model.predict([f.to_atoms()], head="pbe", forces=False, stress=False)[0]["energy"]}
    for name in a.peers:
        if not peer_available(name):
            print(f"# peer {name} not installed: skipped")
            continue
        calc = peer_calculator(name, num_threads=a.threads)

        def pred(f, calc=calc):
            atoms = f.to_atoms()
            atoms.calc = calc
            return atoms.get_potential_energy()

        predictors[name] = pred
    raw = np.array([f.info["formation_energy_per_atom"] for f in wbm])
    corr = np.array([f.info["corrected_formation_energy_per_atom"] for f in wbm])
    rows = []
    for name, pred in predictors.items():
        e = energies(pred, wbm)
        mus = {"dft": mu_dft, "model": model_mu(pred, polymorphs)}
        for mu_kind, mu in mus.items():
            ef = formation(e, wbm, mu)
            ok = np.isfinite(ef)
            rows.append({"model": name, "mu": mu_kind, "n": int(ok.sum()), "failed": int((~np.isfinite(e)).sum()),
                         "mae_raw_meV_atom": 1000 * float(np.mean(np.abs(ef[ok] - raw[ok]))),
                         "mae_corrected_meV_atom": 1000 * float(np.mean(np.abs(ef[ok] - corr[ok])))})
            r = rows[-1]
            print(f"{name:<16} μ={mu_kind:<6} n={r['n']:<4} MAE vs raw {r['mae_raw_meV_atom']:7.1f}  "
                  f"vs MP2020-corrected {r['mae_corrected_meV_atom']:7.1f} meV/atom", flush=True)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
