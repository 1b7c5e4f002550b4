import json
import re

import numpy as np
import pytest

from course_utils import results


def test_card_round_trip(tmp_path):
    path = results.save_results(
        "03_lenet_mnist.ipynb",
        {
            "test_accuracy": (np.float64(0.991), "fraction"),
            "train_seconds": {"value": 21.5, "unit": "s"},
        },
        directory=tmp_path,
    )
    assert path.name == "03_lenet_mnist.json"
    card = json.loads(path.read_text())
    assert card["notebook"] == "03_lenet_mnist"
    assert card["metrics"]["test_accuracy"] == {"value": 0.991, "unit": "fraction"}
    assert card["machine"]["logical_cpus"] >= 1 and card["machine"]["tensorflow"]
    assert card["created_utc"].endswith("Z")
    assert (
        results.load_results("03_lenet_mnist", directory=tmp_path)["metrics"]["train_seconds"][
            "unit"
        ]
        == "s"
    )


@pytest.mark.parametrize(
    "metrics, match",
    [
        ({"Test Accuracy": (1.0, "x")}, "snake_case"),
        ({"acc": 0.9}, r"\(value, unit\)"),
        ({"acc": {"value": 0.9}}, "unit"),
        ({"acc": (float("nan"), "fraction")}, "finite"),
    ],
)
def test_bad_metrics_are_rejected(tmp_path, metrics, match):
    with pytest.raises(ValueError, match=match):
        results.save_results("x", metrics, directory=tmp_path)


def test_missing_card_says_which_notebook(tmp_path):
    with pytest.raises(FileNotFoundError, match="notebooks/05_x.ipynb"):
        results.load_results("05_x", directory=tmp_path)


# ------------------------------------------------------------------ schema 1: machine facts


def test_card_has_schema_version_and_the_machine_facts_the_class_report_needs(tmp_path):
    from course_utils import machine as this

    path = results.save_results("08_rooflines", {"x_seconds": (1.0, "s")}, directory=tmp_path)
    card = json.loads(path.read_text())
    assert card["schema_version"] == results.SCHEMA_VERSION == 1
    machine = card["machine"]
    assert machine["cpu"] == this.cpu_model()
    assert 1 <= machine["physical_cores"] <= machine["logical_cpus"]
    flags = this.cpu_flags()
    assert ("AVX2" in machine["simd"]) == ("avx2" in flags)
    assert ("AVX-512 VNNI" in machine["int8_dot_product"]) == ("avx512_vnni" in flags)
    assert isinstance(machine["gpus"], list)
    assert results.check_card(card) == (card, [])  # a fresh card passes the reader untouched


# ------------------------------------------------------------------ the one reader


def _card(**changes):
    card = {
        "schema_version": 1,
        "notebook": "03_lenet_mnist",
        "created_utc": "2026-11-27T10:00:00Z",
        "machine": {"cpu": "Test CPU", "physical_cores": 4, "logical_cpus": 8, "gpus": []},
        "metrics": {"train_seconds": {"value": 21.5, "unit": "s"}},
    }
    card.update(changes)
    return card


def test_check_card_keeps_what_is_usable_and_says_what_is_not():
    assert results.check_card(_card()) == (_card(), [])
    older = _card()
    del older["schema_version"]
    card, notes = results.check_card(older)
    assert card["schema_version"] == 0 and card["metrics"] == _card()["metrics"]
    assert notes == ["older card (schema_version 0): no cores or SIMD recorded"]
    metrics = {
        "train_seconds": {"value": 21.5, "unit": "s"},
        "nan_seconds": {"value": float("nan"), "unit": "s"},
        "inf_seconds": {"value": float("inf"), "unit": "s"},
        "no_value": {"unit": "s"},
        "text_value": {"value": "fast", "unit": "s"},
        "bool_value": {"value": True, "unit": "s"},
        "huge_int": {"value": 10**400, "unit": "s"},
    }
    card, notes = results.check_card(_card(metrics=metrics))
    assert list(card["metrics"]) == ["train_seconds"]
    assert len(notes) == 1 and "left out 6 metric(s)" in notes[0] and "nan_seconds" in notes[0]
    bad_machine = {"cpu": 7, "physical_cores": "four", "logical_cpus": True, "gpus": ["T4", 3]}
    card, notes = results.check_card(_card(machine=bad_machine))
    assert card["machine"] == {"gpus": ["T4"]} and notes == []


@pytest.mark.parametrize(
    "data, match",
    [
        ([1, 2], "not a results card"),
        ({"notebook": "03"}, "not a results card"),
        (_card(schema_version=2), "unknown schema_version 2"),
        (_card(schema_version="1"), "unknown schema_version '1'"),
        (_card(schema_version=True), "unknown schema_version True"),
        (_card(notebook="lenet"), "not a notebook stem"),
        (_card(metrics=[1]), "not a mapping"),
        (_card(metrics={"a": {"value": None, "unit": "s"}}), "no usable metric"),
    ],
)
def test_check_card_refuses_what_it_cannot_read(data, match):
    card, notes = results.check_card(data)
    assert card is None and any(match in n for n in notes), notes


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "empty file"),
        (b'{"notebook": "03", "metrics": {', "truncated JSON"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary data"),
        (b"notebook: 03", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"[" + b" " * results.MAX_FILE_BYTES + b"]", "larger than the 2 MiB cap"),
    ],
)
def test_read_json_says_why_a_file_is_unusable(tmp_path, content, match):
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        results.read_json(path)


# ------------------------------------------------------------------ packs


def test_pack_bundles_the_cards_with_the_alias_and_nothing_personal(tmp_path):
    import getpass
    import socket
    from pathlib import Path

    from course_utils.__main__ import main

    cards = tmp_path / "results"
    results.save_results("03_lenet_mnist", {"train_seconds": (21.5, "s")}, directory=cards)
    where = f"{Path.home()}/course/ref.json on {socket.gethostname()} by {getpass.getuser()}"
    results.save_results(
        "04_cpu_vs_gpu",
        {"crossover_params_gpu": {"value": 1e5, "unit": "params", "source": where}},
        directory=cards,
    )
    out = tmp_path / "hand-in" / "pack.json"
    assert (
        main(["results", "pack", "--alias", "blue falcon", "--cards", str(cards), "-o", str(out)])
        == 0
    )
    text = out.read_text()
    for private in (str(Path.home()), socket.gethostname(), getpass.getuser(), str(tmp_path)):
        assert not re.search(rf"(?<![A-Za-z0-9]){re.escape(private)}(?![A-Za-z0-9])", text), private
    bundle = json.loads(text)
    assert bundle["format"] == results.PACK_FORMAT and bundle["alias"] == "blue falcon"
    assert [c["notebook"] for c in bundle["cards"]] == ["03_lenet_mnist", "04_cpu_vs_gpu"]
    assert all(results.check_card(c) == (c, []) for c in bundle["cards"])
    source = bundle["cards"][1]["metrics"]["crossover_params_gpu"]["source"]
    assert source.startswith("<private>/course/ref.json on <private> by")
    assert set(bundle["cards"][0]) == {
        "schema_version",
        "notebook",
        "created_utc",
        "machine",
        "metrics",
    }
    assert set(bundle["cards"][0]["machine"]) <= set(results.MACHINE_FIELDS)


def test_pack_leaves_out_bad_cards_with_one_line_each_and_exit_codes(tmp_path, capsys):
    from course_utils.__main__ import main

    cards = tmp_path / "results"
    results.save_results("03_lenet_mnist", {"train_seconds": (21.5, "s")}, directory=cards)
    (cards / "06_quantization.json").write_text('{"notebook": "06_quant')
    before = {p.name: p.read_bytes() for p in cards.iterdir()}
    out = tmp_path / "pack.json"
    assert main(["results", "pack", "--alias", "x1", "--cards", str(cards), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and "06_quantization.json: truncated JSON" in err[0] and "left out" in err[0]
    )
    assert [c["notebook"] for c in json.loads(out.read_text())["cards"]] == ["03_lenet_mnist"]
    assert {p.name: p.read_bytes() for p in cards.iterdir()} == before  # inputs untouched
    assert main(["results", "pack", "--alias", "../etc", "--cards", str(cards)]) == 2
    assert "alias '../etc'" in capsys.readouterr().err
    assert main(["results", "pack", "--cards", str(tmp_path / "none")]) == 2
    assert "no usable results card" in capsys.readouterr().err
    with pytest.raises(ValueError, match="alias"):
        results.check_alias("")
