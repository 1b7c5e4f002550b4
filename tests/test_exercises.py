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
