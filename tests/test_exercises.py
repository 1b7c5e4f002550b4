from course_utils.exercises import check


def test_check_numbers_strings_sequences(capsys):
    assert check("a", 114, 114) is True
    assert check("b", 100, 114, hint="5*60-113-73") is False
    assert "Hint: 5*60-113-73" in capsys.readouterr().out
    assert check("c", 1.005e9, 1e9) is True
    assert check("d", "Memory", "memory") is True
    assert check("e", [100, 184], [100, 184]) is True
    assert check("f", [100], [100, 184]) is False
    assert check("g", 0.0, 0.0) is True
    assert check("h", 1e-9, 0.0, abs_tol=1e-6) is True


def test_unanswered_is_not_a_failure(capsys):
    assert check("x", ..., 3) is None
    assert "not answered yet" in capsys.readouterr().out


def test_check_prediction_uses_a_factor_band(capsys):
    from course_utils.exercises import check_prediction

    assert check_prediction("p", 10, 12) is True
    assert check_prediction("p", 10, 16) is False
    assert "outside" in capsys.readouterr().out
    assert check_prediction("p", 30, 16, factor=2) is True
    assert check_prediction("p", ..., 16) is None
    assert check_prediction("p", -1, 16) is False


def test_check_function_compares_every_case(capsys):
    import numpy as np

    from course_utils.exercises import check_function

    def reference(w, s):
        return np.where(np.abs(w) < np.quantile(np.abs(w), s), 0.0, w)

    w = np.arange(-5.0, 5.0)
    assert check_function("f", reference, [(w, 0.5), (w, 0.2)], reference) is True
    assert check_function("f", lambda w, s: w, [(w, 0.5)], reference) is False
    assert "case 1" in capsys.readouterr().out
    assert check_function("f", lambda w, s: ..., [(w, 0.5)], reference) is None

    def broken(w, s):
        raise RuntimeError("oops")

    assert check_function("f", broken, [(w, 0.5)], reference) is False
    assert "RuntimeError" in capsys.readouterr().out


def test_check_choice_prints_the_reason(capsys):
    from course_utils.exercises import check_choice

    reasons = {"a": "compute-bound layers...", "b": "too few FLOP per byte."}
    assert check_choice("c", "B", "b", reasons) is True
    assert "too few FLOP per byte" in capsys.readouterr().out
    assert check_choice("c", "a", "b", reasons) is False
    out = capsys.readouterr().out
    assert "compute-bound" in out and "Why 'b'" in out
    assert check_choice("c", ..., "b") is None
