"""Held-out DFT frames of every training dataset: energy, force and stress errors, parity plots, errors by element.

The frames are the ``test`` split of the pack the first hub model in the report was trained on (its
config names the pack; the pack key covers the cards). Without such a model, the ``test`` split of
every training card is read instead (same group-hash splits as ``pack_mix``). Peers are scored on the
PBE frames only. Forces (meV/Å) and stress (GPa) are compared directly; energies (meV/atom) after a
per-element offset fitted on the same frames, per model and per dataset (see
:func:`unihub.foundation.metrics.aligned_energy_residuals`); hub models that ship their training alignment also get
the error of their energies put back on each dataset's own zero (``energy_mae_meV_atom_own_zero``).
"""

from __future__ import annotations

import numpy as np

from unihub.eval import plots
from unihub.eval.metrics import force_mae_by_element, mae, rmse
from unihub.eval.models import EvalModel, attempt
from unihub.eval.suites import Context, Headline, SuiteResult, Timer, dataset_info, footer
from unihub.foundation.data import list_cards, load_dataset
from unihub.foundation.metrics import aligned_energy_residuals, frame_errors
from unihub.foundation.training.config import TrainConfig
from unihub.foundation.training.run import open_source

NAME = "heldout"
TITLE = "Held-out DFT frames (test split of every training dataset)"
SIZES = {"quick": 3, "default": 10, "full": None}  # frames per dataset
DATASETS: tuple[str, ...] = ()  # the training mix: known only once a model names its pack


def test_frames(model, max_frames: int | None, seed: int = 0) -> dict:
    """{dataset: [Frame]} from the test split of ``model``'s training pack, at most ``max_frames`` each."""
    cfg = TrainConfig.from_dict(model.extra_config["training"]["config"])
    mix = open_source(cfg)
    names = [d["name"] for d in mix.meta["datasets"]]
    ds = np.asarray(mix.array("dataset"))
    test = mix.indices("test")
    rng = np.random.default_rng(seed)
    out = {}
    for k, name in enumerate(names):
        idx = test[ds[test] == k]
        if max_frames is not None and len(idx) > max_frames:
            idx = np.sort(rng.choice(idx, max_frames, replace=False))
        if len(idx):
            out[name] = [mix.frame(int(i)) for i in idx]
    return out


def card_test_frames(datasets, max_frames: int | None, seed: int = 0) -> dict:
    """{dataset: [Frame]} from the ``test`` split of the named cards (no training pack needed)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in datasets:
        frames = load_dataset(name, split="test")
        if max_frames is not None and len(frames) > max_frames:
            frames = [frames[i] for i in np.sort(rng.choice(len(frames), max_frames, replace=False))]
        if frames:
            out[name] = frames
    return out


def score(frames, preds) -> dict:
    """Errors of one model on one dataset's frames (:func:`unihub.foundation.metrics.frame_errors`), how many
    predictions failed (None in ``preds``), and the energy error on the dataset's own zero where the model
    shipped its training alignment."""
    out = {**frame_errors(frames, preds), "failed": sum(p is None for p in preds)}
    fe = [(f, p) for f, p in zip(frames, preds) if f.energy is not None and p is not None]
    own = [(f, p) for f, p in fe if "energy_own_zero" in p]
    if len(fe) > 1 and own:  # the model's energies put back on the dataset's zero with the alignment it shipped
        out["energy_mae_meV_atom_own_zero"] = 1000 * float(np.mean(
            [abs(p["energy_own_zero"] - f.energy) / len(f) for f, p in own]))
    return out


def predict_frames(model: EvalModel, frames, on_error=None) -> tuple[list, list]:
    """Single points on every frame (the frame's own head); failures are None with their error message."""
    preds, errors = [], []
    for f in frames:
        a = attempt(model.single_point, f.to_atoms(), f.fidelity)
        shift = model.energy_shift(f) if a.ok else None
        if shift is not None:
            a.value["energy_own_zero"] = a.value["energy"] + shift
        preds.append(a.value)
        errors.append(a.error)
        if a.error and on_error:
            on_error(f, a.error)
    return preds, errors


def _frames_for(ctx: Context) -> tuple[dict, str]:
    opts = ctx.cache.get("options", {}).get(NAME, {})
    n = opts.get("frames", ctx.n(SIZES))
    if "datasets" in opts:
        return card_test_frames(opts["datasets"], n, ctx.seed), "test split of the named cards"
    for m in ctx.models:
        cfg = getattr(m.model, "extra_config", {}).get("training", {}).get("config") if m.model is not None else None
        if cfg:
            try:
                return test_frames(m.model, n, ctx.seed), f"test split of {m.name}'s training pack"
            except Exception as err:  # noqa: BLE001 - e.g. a fine-tune on user files: try the next model
                ctx.log(f"heldout: {m.name}'s training pack is unavailable ({err}); reading the cards")

    names = list_cards("train")
    return card_test_frames(names, n, ctx.seed), "test split of every training card"


def run(ctx: Context) -> SuiteResult:
    data, source = _frames_for(ctx)
    datasets = [dataset_info(name) for name in data]
    res = _result(data, datasets, source)
    timer = Timer(res)
    e_parity, f_parity, f_by_element = {}, {}, {}
    for m in ctx.models:
        ctx.log(f"heldout: {m.name}")
        e_res, e_ref, scored = [], [], []
        per_ds = {}
        with timer(m):
            for ds, frames in ctx.track(list(data.items()), f"heldout {m.name}"):
                frames = [f for f in frames if m.covers(f.numbers) and (m.kind != "peer" or f.fidelity == "pbe")]
                if not frames:
                    continue
                preds, errors = predict_frames(m, frames)
                per_ds[ds] = score(frames, preds)
                aligned = _aligned_energies(frames, preds)
                if aligned is not None:
                    e_res.append(aligned[0])
                    e_ref.append(aligned[1])
                scored += _record_frames(res, m, ds, frames, preds, errors)
        s = _summary(res, m.name, per_ds, e_res, scored)
        if e_res:
            e_parity[m.name] = (np.concatenate(e_ref), np.concatenate(e_ref) + np.concatenate(e_res))
        f_pairs = [(f.forces.ravel(), p["forces"].ravel()) for f, p in scored if f.forces is not None and "forces" in p]
        if f_pairs:
            f_parity[m.name] = tuple(np.concatenate(x) for x in zip(*f_pairs))
            f_by_element[m.name] = force_mae_by_element(scored)
        res.summary[m.name] = s
    _figures(ctx, res, datasets, e_parity, f_parity, f_by_element)
    ctx.cache["heldout_summary"] = res.summary
    return res


def _result(data: dict[str, list], datasets: list[dict], source: str) -> SuiteResult:
    """The suite's result with its headlines and the note on where the frames come from."""
    res = SuiteResult(NAME, TITLE, datasets, sum(len(v) for v in data.values()), [
        Headline("energy_mae_meV_atom_aligned", "E MAE (aligned) meV/atom", n_key="frames"),
        Headline("force_mae_meV_A", "F MAE meV/Å", n_key="frames"),
        Headline("force_mae_pbe_meV_A", "F MAE, PBE frames meV/Å", n_key="frames"),
        Headline("stress_mae_GPa", "S MAE GPa", n_key="frames"),
    ])
    most = max(map(len, data.values()), default=0)
    res.notes.append(f"Frames: {source}; at most {most} per dataset. Energies compared after a per-element offset "
                     "fitted per model and dataset; peers scored on PBE frames only.")
    return res


def _aligned_energies(frames: list, preds: list) -> tuple[np.ndarray, np.ndarray] | None:
    """Energy residuals (eV/atom) after the per-element offset fitted on one dataset's frames, and the DFT
    energies per atom centred on their mean; None with fewer than two scored frames or no fit."""
    ok = [(f, p) for f, p in zip(frames, preds) if p is not None and f.energy is not None]
    if len(ok) < 2:
        return None
    zs = sorted({int(z) for f, _ in ok for z in f.numbers})
    counts = np.array([[np.sum(f.numbers == z) for z in zs] for f, _ in ok], dtype=float)
    r = aligned_energy_residuals(counts, np.array([p["energy"] for _, p in ok]), np.array([f.energy for f, _ in ok]))
    if r is None:
        return None
    n_at = np.array([len(f) for f, _ in ok])
    per_atom = np.array([f.energy for f, _ in ok]) / n_at
    # datasets use different zeros (totals, cohesive energies): centre each on its mean
    return r / n_at, per_atom - per_atom.mean()


def _record_frames(res: SuiteResult, m: EvalModel, ds: str, frames: list, preds: list, errors: list) -> list:
    """Record one row per frame of dataset ``ds``; returns the (frame, prediction) pairs the model scored."""
    scored = []
    for k, (f, p, err) in enumerate(zip(frames, preds, errors)):
        row = {"dataset": ds, "natoms": len(f), "fidelity": f.fidelity, "e_ref_eV": f.energy}
        if p is not None:
            row["e_pred_eV"] = p["energy"]
            if "energy_own_zero" in p and f.energy is not None:
                row["e_own_zero_eV"] = p["energy_own_zero"]
            scored.append((f, p))
            one = frame_errors([f], [p])
            row.update({key: one[key] for key in ("force_mae_meV_A", "stress_mae_GPa") if key in one})
        res.record(m, f"{ds}:{k}", err, **row)
    return scored


def _summary(res: SuiteResult, name: str, per_ds: dict[str, dict], e_res: list, scored: list) -> dict:
    """A model's summary: frames, per-dataset scores, energies on the datasets' own zeros and aligned, and
    forces and stress pooled over every dataset (and over its PBE frames)."""
    s = {"frames": sum(v["frames"] for v in per_ds.values()), "per_dataset": per_ds}
    own = [r for r in res.records if r["model"] == name and r.get("e_own_zero_eV") is not None]
    if own:
        s["energy_mae_meV_atom_own_zero"] = 1000 * float(np.mean(
            [abs(r["e_own_zero_eV"] - r["e_ref_eV"]) / r["natoms"] for r in own]))
    if e_res:
        r = np.concatenate(e_res) * 1000
        s["energy_mae_meV_atom_aligned"], s["energy_rmse_meV_atom_aligned"] = mae(r, 0), rmse(r, 0)
    # forces and stress pooled over every dataset (energies above: each dataset has its own offsets)
    pooled = frame_errors(*zip(*scored)) if scored else {}
    s.update({k: v for k, v in pooled.items() if k.startswith(("force_", "stress_"))})
    pbe = [(f, p) for f, p in scored if f.fidelity == "pbe"]
    pbe_err = frame_errors(*zip(*pbe)) if pbe else {}
    if "force_mae_meV_A" in pbe_err:
        s["force_mae_pbe_meV_A"] = pbe_err["force_mae_meV_A"]
    return s


def _figures(ctx: Context, res: SuiteResult, datasets: list[dict], e_parity: dict, f_parity: dict,
             f_by_element: dict[str, dict]) -> None:
    """Energy and force parity over the models, and force MAE per element for each."""
    foot = footer(datasets, ctx.models)
    if e_parity:
        res.figures.append(("Held-out energy parity (per-element offsets removed)", plots.parity(
            e_parity, "DFT energy − dataset mean (eV/atom)", "model, aligned (eV/atom)", "Energy parity, held-out",
            foot)))
    if f_parity:
        res.figures.append(("Held-out force parity", plots.parity(
            f_parity, "DFT force component (eV/Å)", "model (eV/Å)", "Force parity, held-out", foot)))
    for name, values in f_by_element.items():
        m = next(x for x in ctx.models if x.name == name)
        res.figures.append((f"Force MAE by element, {name}", plots.periodic_table(
            values, "force MAE (meV/Å)", f"Held-out force MAE per element: {name}", footer(datasets, [m]))))
