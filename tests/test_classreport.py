"""The class report (course_utils.classreport), tested as an instructor uses it.

A synthetic class of 32 students, each handing in a pack made with ``results pack``: their
machines' peaks and bandwidths come from the device catalogue's CPUs and boards
(``hardware.catalog()``) and from the committed reference records in ``datasets/reference/``
(their CPU GEMM rate and MLP epoch times), scaled by a seeded random efficiency; the SIMD and
int8 instruction sets and core counts of each kind of machine are fixture assumptions. Beside
them lie the bad files an instructor really gets. The page is opened in headless Chromium with
the network cut, as tests/test_slides.py opens the decks (slides/browser.py).
"""

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from course_utils import classreport, hardware, results
from course_utils.__main__ import main
from course_utils.paths import artifacts_dir
from slides import browser

ROOT = Path(__file__).resolve().parent.parent
LENET_TRAIN_FLOP = 5 * 60_000 * 3 * 2 * 274_656  # 5 epochs; training = 3 x inference (seed 004)
# Kinds of machine: the catalogue entry (or reference record) giving peak and bandwidth, and facts.
# fmt: off
KINDS = [
    ("Intel Core i7-6600U", dict(cpu="Intel(R) Core(TM) i7-6600U CPU @ 2.60GHz", physical_cores=2,
                                 logical_cpus=4, simd=["SSE4.2", "AVX", "AVX2"], int8_dot_product=[])),
    ("Raspberry Pi 5 (8 GB)", dict(cpu="Cortex-A76", arch="aarch64", physical_cores=4, logical_cpus=4,
                                   simd=["NEON"], int8_dot_product=["Arm dot product"])),
    ("reference", dict(physical_cores=2, logical_cpus=2, simd=["SSE4.2", "AVX", "AVX2", "AVX-512"],
                       int8_dot_product=["AVX-512 VNNI"])),
]
GPUS = ["Tesla T4", "NVIDIA L4", "NVIDIA A100-SXM4-40GB", "Tesla V100-SXM2-16GB"]
# fmt: on


def _reference_cpu():
    """(machine, best CPU GEMM FLOP/s, triad-like bandwidth guess, {width: epoch s}) per record."""
    from course_utils.labs import cpu_vs_gpu

    for path in sorted((ROOT / "datasets" / "reference").glob("*.json")):
        record = cpu_vs_gpu.load(path)
        run = record.run("cpu")
        gemm = max(g.best_flop_per_s for g in run.gemm.values())
        yield record.data["machine"], gemm, {p.width: p.epoch_seconds for p in run.mlp}


def _cards(i, rng, facts, peak, bandwidth, epoch_4096):
    """The eight notebooks' cards of student ``i`` (a subset of each card's real metrics)."""
    gpus = [GPUS[i % len(GPUS)]] if i % 5 == 0 else []
    machine = {"arch": "x86_64", "os": "Linux 6.8", "python": "3.11.7", "tensorflow": "2.21.0",
               "keras": "3.15.1", "gpus": gpus, **facts}  # fmt: skip
    eff = rng.uniform(0.5, 1.1)
    dot = bool(facts["int8_dot_product"])
    fp32 = 25e-6 * 1.66e11 / (peak * eff) * rng.uniform(0.9, 1.1)
    mobile = 0.9e-3 * 1.66e11 / (peak * eff) * rng.uniform(0.9, 1.1)
    crossover = (  # without a GPU, notebook 04 also saves the reference record's crossover
        ("crossover_params_gpu", "measured") if gpus else ("crossover_params_estimate", "estimate")
    )
    metrics = {
        "01_metrics": {"measured_gemm_flop_per_s": (peak * eff * rng.uniform(0.9, 1.0), "FLOP/s")},
        "03_lenet_mnist": {
            "train_seconds": (LENET_TRAIN_FLOP / (peak * eff * 0.1) * (20 if i == 7 else 1), "s"),
            "test_accuracy": (rng.uniform(0.985, 0.992), "fraction"),
            "params": (81_000 if i == 11 else 81_194, "count"),
        },
        "04_cpu_vs_gpu": {
            "mlp_epoch_seconds_n4096": (epoch_4096 / eff, "s"),
            crossover[0]: {
                "value": 1e5 * peak * eff / 1e11,
                "unit": "params",
                "source": crossover[1],
            },
        },
        "05_mobilenet_efficiency": {"mobilenet_v1_latency_seconds": (mobile * 4, "s, batch 1")},
        "06_quantization": {
            "float32_latency_seconds": (fp32, "s, batch 1, 1 thread"),
            "int8_latency_seconds": (fp32 * (0.8 if dot else 1.8), "s, batch 1, 1 thread"),
            "mobilenet_float32_latency_seconds": (mobile, "s, batch 1"),
            "mobilenet_int8_latency_seconds": (mobile * (0.75 if dot else 1.3), "s, batch 1"),
        },
        "07_pruning": {"pruned_accuracy": (rng.uniform(0.97, 0.99), "fraction")},
        "08_rooflines": {
            "measured_peak_flop_per_s": (peak * eff, "FLOP/s"),
            "measured_bandwidth_bytes_per_s": (bandwidth * rng.uniform(0.5, 0.9), "B/s"),
        },
    }
    return machine, metrics


def _write_cards(folder, machine, metrics, created="2026-11-27T10:00:00Z"):
    folder.mkdir(parents=True, exist_ok=True)
    for notebook, values in metrics.items():
        path = results.save_results(notebook, values, directory=folder)
        card = json.loads(path.read_text())
        card.update(machine=machine, created_utc=created)  # the synthetic machine, not this one
        path.write_text(json.dumps(card))


def make_class(tmp_path, students=32):
    """A folder of ``students`` packs (made by ``results pack``) and the aliases."""
    rng = np.random.default_rng(15)
    (ref_machine, ref_gemm, ref_epochs), *_ = _reference_cpu()
    folder, aliases = tmp_path / "class", []
    for i in range(students):
        name, facts = KINDS[i % len(KINDS)]
        if name == "reference":
            facts = {**facts, "cpu": ref_machine["cpu"]}
            peak, bandwidth, epoch = ref_gemm, 25e9, ref_epochs[4096]
        else:
            device = hardware.get(name)
            peak, bandwidth = device.peak("fp32"), device.memory_bandwidth_bytes_per_s
            epoch = ref_epochs[4096] * ref_gemm / peak
        machine, metrics = _cards(i, rng, facts, peak, bandwidth, epoch)
        cards = tmp_path / "cards" / f"s{i}"
        _write_cards(cards, machine, metrics)
        aliases.append(f"student-{i:02d}")
        results.pack(aliases[-1], cards, folder / f"{aliases[-1]}.json")
    return folder, aliases


def _bad_files(folder, good):
    """Write the bad files beside the good packs; returns {file: what its one line must say}."""
    pack = json.loads(good)
    card = pack["cards"][1]
    (folder / "truncated.json").write_text(good[: len(good) // 2])
    (folder / "photo.json").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (folder / "notes.txt").write_text("I could not run notebook 04, sorry!")
    (folder / "empty.json").write_text("")
    (folder / "list.json").write_text("[1, 2, 3]")
    (folder / "huge.json").write_text(good[:-2] + " " * results.MAX_FILE_BYTES + "}\n")
    (folder / "future.json").write_text(json.dumps({**card, "schema_version": 99}))
    (folder / "liar.json").write_text(
        json.dumps({"format": results.PACK_FORMAT, "cards": {"a": 1}})
    )
    (folder / "future-pack.json").write_text(json.dumps({**pack, "schema_version": 7}))
    nan = json.loads(good)
    nan["alias"] = "nan-student"
    nan["cards"][0]["metrics"]["measured_gemm_flop_per_s"]["value"] = float("nan")
    nan["cards"][1]["metrics"]["train_seconds"].pop("value")
    (folder / "nan.json").write_text(json.dumps(nan))  # writes NaN, as json.dumps does
    (folder / "x-dup.json").write_text(good)  # same alias as student-00 (read after it)
    bad_alias = json.loads(good)
    bad_alias["alias"] = "../../etc/passwd"
    (folder / "bad-alias.json").write_text(json.dumps(bad_alias))
    older = folder / "older-student"
    older.mkdir()
    legacy = {k: v for k, v in card.items() if k != "schema_version"}
    legacy["machine"] = {k: legacy["machine"][k] for k in ("cpu", "logical_cpus", "gpus")}
    (older / "03_lenet_mnist.json").write_text(json.dumps(legacy))
    return {
        "truncated.json": "truncated JSON",
        "photo.json": "binary data",
        "notes.txt": "not JSON",
        "empty.json": "empty file",
        "list.json": "not a results card",
        "huge.json": "larger than the 2 MiB cap",
        "future.json": "unknown schema_version 99",
        "liar.json": "says it is a pack",
        "future-pack.json": "pack of unknown schema_version 7",
        "nan.json": "left out 1 metric(s) with no finite value (measured_gemm_flop_per_s)",
        "x-dup.json": "alias 'student-00' also used by student-00.json, shown as 'student-00 (2)'",
        "bad-alias.json": "no valid alias, shown as 'bad-alias'",
        "older-student/03_lenet_mnist.json": "older card (schema_version 0)",
    }


def _digest(folder):
    return {
        p.relative_to(folder).as_posix(): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def the_class(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("classreport")
    folder, aliases = make_class(tmp)
    expected = _bad_files(folder, (folder / "student-00.json").read_text())
    return folder, aliases, expected


# ------------------------------------------------------------------------- reading


def test_a_clean_class_reads_without_a_problem_line(tmp_path, capsys):
    folder, aliases = make_class(tmp_path, students=6)
    c = classreport.load_class(folder)
    assert c.problems == []
    assert sorted(m.label for m in c.machines) == aliases
    out = tmp_path / "report.html"
    assert main(["class-report", str(folder), "-o", str(out)]) == 0
    assert "6 machines, 0 files skipped" in capsys.readouterr().out
    assert main(["class-report", str(tmp_path / "nowhere"), "-o", str(out)]) == 2
    assert "no folder" in capsys.readouterr().err


def test_every_bad_file_gets_one_line_and_the_rest_is_used(the_class, tmp_path, capsys):
    folder, aliases, expected = the_class
    before = _digest(folder)
    out = tmp_path / "report.html"
    assert main(["class-report", str(folder), "-o", str(out)]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert _digest(folder) == before, "the inputs were modified"
    for name, reason in expected.items():
        mine = [line for line in lines if line.startswith(f"{name}: ")]
        assert len(mine) == 1, (name, lines)
        assert reason in mine[0], (name, mine[0])
    assert len(lines) == len(expected), lines  # no line for a good pack
    c = classreport.load_class(folder)
    labels = {m.label for m in c.machines}
    assert set(aliases) <= labels
    assert {"student-00 (2)", "nan-student", "bad-alias", "older-student"} <= labels
    nan = next(m for m in c.machines if m.label == "nan-student")
    assert "01/measured_gemm_flop_per_s" not in nan.values and "03/train_seconds" not in nan.values
    assert "08/measured_peak_flop_per_s" in nan.values  # the rest of its cards is used
    older = next(m for m in c.machines if m.label == "older-student")
    assert older.simd == "unknown" and older.cores == older.facts["logical_cpus"]
    assert f"{len(c.machines)} machines, {len(expected)} files skipped" in captured.out


def test_a_student_with_two_machines_gets_two_rows(tmp_path):
    rng = np.random.default_rng(0)
    _, facts = KINDS[0]
    laptop, metrics = _cards(1, rng, facts, 1.6e11, 3e10, 70.0)
    colab = {**laptop, "cpu": "Intel(R) Xeon(R) CPU @ 2.20GHz", "gpus": ["Tesla T4"]}
    _write_cards(
        tmp_path / "cards", laptop, {k: v for k, v in metrics.items() if k != "04_cpu_vs_gpu"}
    )
    _write_cards(tmp_path / "cards", colab, {"04_cpu_vs_gpu": metrics["04_cpu_vs_gpu"]})
    results.pack("kim", tmp_path / "cards", tmp_path / "class" / "kim.json")
    c = classreport.load_class(tmp_path / "class")
    assert sorted(m.label for m in c.machines) == ["kim (machine 1)", "kim (machine 2)"]
    assert c.problems == []
    by_gpu = {bool(m.facts["gpus"]): m for m in c.machines}
    assert set(by_gpu[True].values) == {f"04/{k}" for k in metrics["04_cpu_vs_gpu"]}
    assert "08/measured_peak_flop_per_s" in by_gpu[False].values


# -------------------------------------------------------------------------- tables


def test_tables_hold_each_section_and_name_the_planted_outliers(the_class):
    folder, aliases, _ = the_class
    t = classreport.tables(classreport.load_class(folder))
    assert set(t) == set(classreport.TABLES)
    assert len(t["machines"]) >= 30 and len(t["roofline"]) >= 30 and len(t["lenet"]) >= 30
    isas = {r["int8 dot product"] for r in t["int8"]}
    assert {"none", "AVX-512 VNNI", "Arm dot product"} <= isas
    by_isa = {r["int8 dot product"]: r for r in t["int8"]}
    assert by_isa["AVX-512 VNNI"]["LeNet fp32/int8 [x]"] > 1 > by_isa["none"]["LeNet fp32/int8 [x]"]
    sources = {r["source"] for r in t["crossover"]}
    assert sources == {"measured", "estimate"}
    assert all(r["GPUs"] != "none" for r in t["crossover"] if r["source"] == "measured")
    assert all(r["ridge point [FLOP/B]"] > 0 for r in t["roofline"])
    named = {(r["machine"], r["metric"]) for r in t["outliers"]}
    assert ("student-07", "train_seconds") in named  # 20x slower than its peak predicts
    assert ("student-11", "params") in named  # a different model than everyone else's
    peak = next(r for r in t["metrics"] if r["metric"] == "measured_peak_flop_per_s")
    assert peak["machines"] >= 30 and peak["min"] <= peak["median"] <= peak["max"]
    assert (
        "Intel Core i7-6600U" in peak["references"]
        and "seed 002: NVIDIA Tesla K80" in peak["references"]
    )
    accuracy = next(r for r in t["metrics"] if r["metric"] == "test_accuracy")
    assert accuracy["references"] == ""  # no device reference for an accuracy


def test_sections_table_names_metrics_the_notebooks_save():
    """Each metric the report reads is saved by its notebook (catches a rename in a notebook)."""
    saved = {}
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        source = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])
        saved[path.name[:2]] = source
    for section, roles in classreport.SECTIONS.items():
        for role, key in roles.items():
            notebook, name = key.split("/")
            assert f'"{name}"' in saved.get(notebook, ""), f"{section}/{role}: {key} not saved"


# --------------------------------------------------------------------------- page


PROBE = """(function () {
  var figures = Array.from(document.querySelectorAll('figure')).map(function (f) {
    var img = f.querySelector('img');
    return [f.id, !!img && img.complete && img.naturalWidth > 300 && img.naturalHeight > 150];
  });
  var tables = Array.from(document.querySelectorAll('table')).map(function (t) {
    return [t.id, t.rows.length - 1];
  });
  var loaded = performance.getEntriesByType('resource').map(function (e) { return e.name; })
    .filter(function (name) { return name.indexOf('data:') !== 0; });
  return {figures: figures, tables: tables, loaded: loaded,
          problems: document.querySelectorAll('ul.problems li').length};
})()"""


def test_page_is_self_contained_and_complete_in_offline_chromium(the_class, chromium, tmp_path):
    folder, _, expected = the_class
    out = tmp_path / "report.html"
    c = classreport.load_class(folder)
    classreport.write_report(c, out)
    page = out.read_text()
    assert not re.findall(r"""(?:src|href)\s*=\s*["'](?!data:|#)""", page), "loads a resource"
    assert "http://" not in page and "https://" not in page
    with browser.Browser(chromium) as b:
        assert "unshare" in b.network_cut_by or "flags" in b.network_cut_by
        b.open(out)
        seen = b.evaluate(PROBE)
        png = b.screenshot(artifacts_dir("classreport") / "report_top.png")
    figures = dict(seen["figures"])
    assert set(figures) == {
        f"fig-{n}" for n in ("roofline", "lenet", "int8", "crossover", "metrics")
    }
    assert all(figures.values()), f"a figure did not render: {figures}"
    tables = dict(seen["tables"])
    assert set(tables) == set(classreport.TABLES)
    assert all(rows > 0 for rows in tables.values()), tables
    assert tables["machines"] == len(c.machines) >= 30
    assert seen["loaded"] == [], f"the page loaded {seen['loaded']}"
    assert seen["problems"] == len(expected)
    assert png.stat().st_size > 10_000


def test_an_empty_section_says_so_instead_of_a_figure(tmp_path):
    cards = tmp_path / "cards"
    machine = {"cpu": "Test CPU", "physical_cores": 2, "logical_cpus": 2, "simd": ["AVX2"],
               "int8_dot_product": [], "gpus": []}  # fmt: skip
    _write_cards(cards, machine, {"03_lenet_mnist": {"train_seconds": (30.0, "s")}})
    results.pack("solo", cards, tmp_path / "class" / "solo.json")
    c = classreport.load_class(tmp_path / "class")
    figures = classreport.figures(c)
    assert set(figures) == {"lenet", "metrics"}
    page = classreport.write_report(c, tmp_path / "r.html").read_text()
    assert page.count('class="empty"') == 4  # roofline, int8, crossover, outliers


def test_a_gpu_less_machine_shows_its_estimate_not_the_records_crossover(tmp_path):
    machine = {"cpu": "X", "physical_cores": 2, "logical_cpus": 2, "gpus": []}
    metrics = {
        "crossover_params_gpu": {"value": 56895.0, "unit": "params", "source": "reference record"},
        "crossover_params_estimate": {"value": 44000.0, "unit": "params"},
    }
    card = {"schema_version": 1, "notebook": "04_cpu_vs_gpu", "created_utc": "2026-11-27T00:00:00Z",
            "machine": machine, "metrics": metrics}  # fmt: skip
    (tmp_path / "s1").mkdir()
    (tmp_path / "s1" / "04_cpu_vs_gpu.json").write_text(json.dumps(card))
    rows = classreport.tables(classreport.load_class(tmp_path))["crossover"]
    assert [(r["source"], r["crossover [params]"]) for r in rows] == [("estimate", 44000.0)]


def test_outliers_by_robust_z_score():
    times = {f"m{i}": 20.0 + i for i in range(9)}
    assert classreport.outliers(times) == []
    assert classreport.outliers({**times, "slow": 400.0}) == [("slow", "16.3x the class median")]
    same = {f"m{i}": 81_194.0 for i in range(6)}
    assert classreport.outliers({**same, "odd": 81_000.0}) == [("odd", "most others have 81194")]
    gains = {f"m{i}": 0.1 * i - 0.2 for i in range(8)}  # percentage points, some negative
    assert [label for label, _ in classreport.outliers({**gains, "far": 9.0})] == ["far"]
    assert classreport.outliers({"a": 1.0, "b": 100.0}) == []  # too few to judge
