"""OOD suites and the report, end to end on tiny subsets with a small random model and an MTP student."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.calculators.calculator import Calculator, all_changes

from unihub.eval.models import EvalModel, resolve_models, wrap_hub_model
from unihub.eval.suites import ORDER, Context, suite_module

ROOT = Path(__file__).resolve().parents[2]
HELDOUT = {"heldout": {"datasets": ["mlearn"], "frames": 20}}  # PBE, few elements: energies can be aligned


@pytest.fixture(autouse=True)
def _data(monkeypatch):
    if not os.environ.get("UNIHUB_DATA"):
        shared = ROOT.parent / "shared" / "data"
        if not shared.is_dir():
            pytest.skip("no DFT data: set UNIHUB_DATA (CI uses ../shared/data)")
        monkeypatch.setenv("UNIHUB_DATA", str(shared))


@pytest.fixture(scope="module")
def tiny():
    from unihub.foundation.model.config import ModelConfig
    from unihub.zoo.models import UniversalModel

    torch.manual_seed(0)
    m = UniversalModel(ModelConfig(features=8, vector_features=4, layers=1, cutoff=4.0))
    with torch.no_grad():
        m.reference_energies.uniform_(-3, -1)
    m.name = "tiny"
    return wrap_hub_model(m.eval())


@pytest.fixture(scope="module")
def student():
    from unihub.finetune.mtp import MTPModel
    from unihub.foundation.served import StudentModel

    mtp = MTPModel.from_level(8, ["Si", "Ge"], seed=1)
    mtp.params.moment_coeffs = np.random.default_rng(0).normal(0, 0.1, len(mtp.params.moment_coeffs))
    mtp.params.species_coeffs = np.array([-4.0, -3.5])
    return wrap_hub_model(StudentModel(mtp, name="si-ge-student"))


class Flaky(Calculator):
    """Fails on every structure with more than four atoms; a harmonic toy elsewhere."""

    implemented_properties = ["energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if len(self.atoms) > 4:
            raise RuntimeError("too many atoms for this toy")
        self.results = {"energy": float(np.sum(self.atoms.positions**2)) * 1e-3,
                        "forces": -2e-3 * self.atoms.positions, "stress": np.zeros(6)}


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


@pytest.mark.parametrize("name", ORDER)
def test_suite_on_tiny_subset(name, tiny):
    ctx = Context([tiny], size="quick", cache={"options": HELDOUT})
    res = suite_module(name).run(ctx)
    summary = res.summary["tiny"]
    for h in res.headlines:
        assert _finite(summary.get(h.key)), f"{name}: headline {h.key} = {summary.get(h.key)!r}"
    assert res.records and all(r["model"] == "tiny" and "error" in r for r in res.records)
    assert res.seconds["tiny"] > 0
    assert res.datasets or name == "cost"
    for title, png in res.figures:
        assert png[:8] == b"\x89PNG\r\n\x1a\n", title


def test_student_only_judged_within_its_elements(student):
    ctx = Context([student], size="full")
    res = suite_module("diatomics").run(ctx)
    assert {r["id"] for r in res.records} == {"Si-Si", "Ge-Ge"}
    assert _finite(res.summary["si-ge-student"]["r_min_mae_A"])
    res = suite_module("wbm").run(Context([student], size="quick"))
    assert not res.records and "elements" in res.skipped["si-ge-student"]
    cost = suite_module("cost").run(Context([student], size="quick"))
    assert _finite(cost.summary["si-ge-student"]["us_per_atom_step"])


def test_failing_model_is_recorded_not_raised():
    flaky = EvalModel("flaky", "peer", "toy", _calcs={None: Flaky()})
    res = suite_module("wbm").run(Context([flaky], size="quick"))
    failed = [r for r in res.records if r["error"]]
    assert failed and res.failures["flaky"] == len(failed)
    assert all("too many atoms" in r["error"] for r in failed)


def test_unavailable_peer_is_skipped_with_a_message(monkeypatch):
    import unihub.zoo.peers

    monkeypatch.setattr(unihub.zoo.peers, "peer_available", lambda name: False)
    models, skipped = resolve_models(["chgnet"])
    assert models == [] and len(skipped) == 1
    assert "chgnet" in skipped[0] and "not installed" in skipped[0] and "pip install" in skipped[0]


def test_report_end_to_end(tmp_path, tiny, monkeypatch):
    import unihub.zoo.peers
    from unihub.eval import ood_report

    monkeypatch.setattr(unihub.zoo.peers, "peer_available", lambda name: False)
    flaky = EvalModel("flaky", "peer", "toy", _calcs={None: Flaky()})
    rep = ood_report([tiny, flaky, "sevennet-0"], suites=["heldout", "vacancies", "cost"], out=tmp_path, size="quick",
                     progress=False, options=HELDOUT)
    for f in ("report.html", "report.md", "report.json", "raw/heldout.csv", "raw/vacancies.csv", "raw/cost.csv"):
        assert (tmp_path / f).is_file(), f
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk == json.loads(json.dumps(rep))
    assert [m["name"] for m in rep["models"]] == ["tiny", "flaky"]
    assert all(m["revision"] for m in rep["models"])
    assert any("sevennet-0" in s and "not installed" in s for s in rep["skipped_models"])
    assert rep["suites"]["vacancies"]["failures"]["flaky"] > 0
    assert set(rep["suites"]) == {"heldout", "vacancies", "cost"}
    assert all(s["wall_seconds"] > 0 for s in rep["suites"].values())
    page = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in page and "Summary" in page and "sevennet-0" in page
    assert "tiny@" in (tmp_path / "report.md").read_text() or "rev " in (tmp_path / "report.md").read_text()
    pngs = list((tmp_path / "figures").glob("*.png"))
    assert pngs and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)


def test_unknown_suite_is_refused_before_loading_models(tmp_path):
    from unihub.eval import ood_report

    with pytest.raises(ValueError, match="unknown suite 'phonon'"):
        ood_report(["no-such-model"], suites=["phonon"], out=tmp_path)
    with pytest.raises(ValueError, match="at least one model"):
        ood_report([], out=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_cli_parser_builds_the_report_call(monkeypatch, tmp_path):
    from unihub.cli import build_parser

    seen = {}
    monkeypatch.setattr("unihub.eval.ood_report",
                        lambda models, **kw: seen.update(models=models, **kw) or {"wall_seconds": 1})
    p = build_parser()
    args = p.parse_args(["report", "universal-v1", "chgnet", "--suites", "eos,cost", "wbm", "--quick",
                         "-o", str(tmp_path)])
    assert args.func(args) == 0
    assert seen["models"] == ["universal-v1", "chgnet"] and seen["suites"] == ["eos", "cost", "wbm"]
    assert seen["size"] == "quick" and seen["out"] == str(tmp_path) and seen["options"] is None
    args = p.parse_args(["report", "chgnet", "--wbm-summary", "s.csv.gz", "-o", str(tmp_path / "w")])
    assert args.func(args) == 0 and seen["options"] == {"wbm": {"summary": "s.csv.gz"}}
    with pytest.raises(SystemExit):
        p.parse_args(["report", "m", "--quick", "--full"])


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    """``--quick`` on the shipped model, once for the tests that read it."""
    from unihub.eval import ood_report

    out = tmp_path_factory.mktemp("quick")
    if not os.environ.get("UNIHUB_DATA"):
        shared = ROOT.parent / "shared" / "data"
        if not shared.is_dir():
            pytest.skip("no DFT data: set UNIHUB_DATA (CI uses ../shared/data)")
        os.environ["UNIHUB_DATA"] = str(shared)
    return ood_report(["universal-v1"], out=out, size="quick", progress=False, threads=2), out


def test_quick_report_on_universal_v1(quick_report):
    """The CI run of ``--quick`` on the shipped model: every suite runs, its headlines are finite and carry n."""
    rep, out = quick_report
    assert set(rep["suites"]) == set(ORDER) and not rep["suite_errors"]
    for name, suite in rep["suites"].items():
        values = [suite["summary"]["universal-v1"].get(h["key"]) for h in suite["headlines"]]
        assert values and all(v is not None and math.isfinite(v) for v in values), (name, values)
    from unihub.eval.report import summary_rows

    rows = summary_rows(rep)
    assert rows and all(isinstance(r.n["universal-v1"], int) and r.n["universal-v1"] > 0 for r in rows), \
        [(r.suite, r.label, r.n) for r in rows]
    assert (out / "report.html").stat().st_size > 10_000


CHROMIUM = Path("/usr/bin/chromium")
# as root and offline: no sandbox, and no background connections this machine's closed network would refuse
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]
_CHECK = """<script>window.addEventListener('load', () => {
  const imgs = [...document.images];
  const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0 && i.naturalHeight > 0)).map(i => i.alt);
  const out = document.createElement('pre'); out.id = 'unihub-check';
  out.textContent = JSON.stringify({images: imgs.length, bad: bad,
                                    pageWidth: document.documentElement.scrollWidth, viewport: window.innerWidth});
  document.body.appendChild(out);
});</script></body>"""


def _chromium(tmp_path: Path, *args: str) -> str:
    import subprocess

    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    run = subprocess.run([str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium not found at /usr/bin/chromium (Debian's "
                    "package chromium; .ci/run installs it)")
def test_quick_report_renders_in_chromium(quick_report, tmp_path):
    """Chromium loads the report: every figure decodes with a non-zero size, the page fits 1280 px, and a
    screenshot of it is saved in the test's temp folder."""
    import re

    rep, out = quick_report
    page = (out / "report.html").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", _CHECK))
    dom = _chromium(tmp_path, "--window-size=1280,900", "--virtual-time-budget=20000", "--dump-dom", probe.as_uri())
    found = re.search(r"<pre id=\"unihub-check\">(.*?)</pre>", dom, re.S)
    assert found, dom[-2000:]
    check = json.loads(found.group(1).replace("&quot;", '"'))
    n_figures = sum(len(s["figures"]) for s in rep["suites"].values())
    assert check["images"] == n_figures > 0 and check["bad"] == [], check
    assert check["pageWidth"] <= check["viewport"], check  # wide tables scroll inside, not the page
    shot = tmp_path / "report-screenshot.png"
    _chromium(tmp_path, "--window-size=1280,4000", f"--screenshot={shot}", (out / "report.html").as_uri())
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")


def test_in_distribution_rows_are_marked_and_never_bolded():
    """A model that trained on a row's data is labelled (ID) and cannot be 'best' against models that did not."""
    from unihub.eval.report import render_markdown
    from unihub.eval.suites import Headline

    peer = EvalModel("chgnet", "peer", "r", peer="chgnet")
    assert peer.in_distribution(["mattersim_ood/mptrj-random-1k"]) and peer.in_distribution(["mptrj_highest_stress"])
    assert not peer.in_distribution(["mattersim_ood/alexandria-random-1k"]) and not peer.in_distribution(["mlearn"])
    h = Headline("f", "F MAE", datasets=("mattersim_ood/mptrj-random-1k",))
    report = {"created": "now", "size": "quick", "wall_seconds": 1.0, "machine": {"cpus": 2, "torch_threads": 1,
              "platform": "x"}, "versions": {},
              "models": [{"name": n, "kind": "k", "revision": "r"} for n in ("chgnet", "mine")],
              "skipped_models": [], "suite_errors": {},
              "suites": {"ood": {"title": "t", "datasets": [], "size": 1, "wall_seconds": 1.0,
                                 "seconds_per_model": {}, "summary": {"chgnet": {"f": 60.0}, "mine": {"f": 90.0}},
                                 "failures": {}, "skipped": {}, "notes": [], "headlines": [h.__dict__],
                                 "in_distribution": {"f": ["chgnet"]}, "figures": [], "raw": "raw/ood.csv"}}}
    md = render_markdown(report, {})
    row = next(line for line in md.splitlines() if line.startswith("| ood | F MAE"))
    assert row == "| ood | F MAE | 60 (ID) | 90 |"  # the lower ID value is not bolded; one OOD model: no best


def test_reference_data_does_not_make_a_row_in_distribution():
    """universal-v1 trained on MatPES elemental references, which WBM and vacancies use only for μ: their
    rows measure compounds and defects it never saw."""
    from unihub.eval.models import resolve_models
    from unihub.eval.suites import vacancies, wbm

    (v1,), _ = resolve_models(["universal-v1"])
    assert v1.in_distribution(["matpes_element_refs"])  # the reference set is its training data ...
    assert not v1.in_distribution(list(wbm.WBM_ONLY))  # ... and still not what the rows measure
    assert not v1.in_distribution([vacancies.DATASETS[0]])
