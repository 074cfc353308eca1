import json

import numpy as np
import pytest
import torch

from aevae import book


@pytest.fixture
def fake_book(tmp_path, monkeypatch):
    (tmp_path / "_config.yml").write_text("title: x\n")
    (tmp_path / "_toc.yml").write_text("root: intro\n")
    (tmp_path / "chapters").mkdir()
    monkeypatch.chdir(tmp_path / "chapters")  # notebooks run with their folder as cwd
    monkeypatch.delenv("AEVAE_RESULTS", raising=False)
    return tmp_path


def test_record_results_writes_rounded_json(fake_book):
    out = book.record_results("04_vae", {"mse": 0.0123456, "acc": np.float32(0.875), "n": 7,
                                         "per_k": {"2": torch.tensor(1234.567)}, "name": "vae"})
    assert out == {"mse": 0.01235, "acc": 0.875, "n": 7, "per_k": {"2": 1235.0}, "name": "vae"}
    assert json.loads((fake_book / "results" / "04_vae.json").read_text()) == out


def test_check_mode_accepts_close_and_names_stale_numbers(fake_book, monkeypatch):
    book.record_results("04_vae", {"mse": 0.0200, "acc": 0.90, "label": "a"})
    monkeypatch.setenv("AEVAE_RESULTS", "check")
    # within tolerance
    book.record_results("04_vae", {"mse": 0.0201, "acc": 0.95, "label": "a"})
    with pytest.raises(book.StaleResultsError, match=r"acc: file has 0.9, chapter gives 0.5") as err:
        book.record_results("04_vae", {"mse": 0.0201, "acc": 0.5, "label": "a"})
    assert "make book" in str(err.value)
    with pytest.raises(book.StaleResultsError, match="no longer produced"):
        book.record_results("04_vae", {"mse": 0.02, "label": "a"})
    with pytest.raises(book.StaleResultsError, match="missing"):
        book.record_results("05_other", {"x": 1})
    # check mode never writes
    assert json.loads((fake_book / "results" / "04_vae.json").read_text())["acc"] == 0.9


def test_check_mode_tolerates_other_cpus_but_not_other_chapters(fake_book, monkeypatch):
    book.record_results("06_x", {"frechet": 20.0, "units": 6, "gap": 0.01})
    monkeypatch.setenv("AEVAE_RESULTS", "check")
    book.record_results("06_x", {"frechet": 22.5, "units": 8, "gap": -0.03})  # run-to-run noise
    with pytest.raises(book.StaleResultsError, match="frechet: file has 20.0, chapter gives 30.0"):
        book.record_results("06_x", {"frechet": 30.0, "units": 6, "gap": 0.01})
    with pytest.raises(book.StaleResultsError, match="units: file has 6, chapter gives 9"):
        book.record_results("06_x", {"frechet": 20.0, "units": 9, "gap": 0.01})
    with pytest.raises(book.StaleResultsError, match="label"):
        book.record_results("06_x", {"frechet": 20.0, "units": 6, "gap": 0.01, "label": "k=32"})


def test_setup_fixes_the_thread_count(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("AEVAE_THREADS", raising=False)
        book.setup(0, "cpu", style=False)
        assert torch.get_num_threads() == book.BOOK_THREADS
        monkeypatch.setenv("AEVAE_THREADS", "1")
        book.setup(0, "cpu", style=False)
        assert torch.get_num_threads() == 1
        for bad in ("0", "two"):
            monkeypatch.setenv("AEVAE_THREADS", bad)
            with pytest.raises(ValueError, match="AEVAE_THREADS must be a positive integer"):
                book.setup(0, "cpu", style=False)
    finally:
        torch.set_num_threads(before)


def test_record_results_outside_the_book_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert book.record_results("x", {"a": 1.0}) == {"a": 1.0}
    assert not (tmp_path / "results").exists()


def test_record_results_rejects_bad_input(fake_book):
    with pytest.raises(ValueError, match="file-name stem"):
        book.record_results("a/b", {})
    with pytest.raises(TypeError, match="numbers, strings"):
        book.record_results("x", {"model": object()})


def test_pick_device_and_glue_and_progress(monkeypatch):
    assert book.pick_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="Unknown device"):
        book.pick_device("tpu")
    monkeypatch.setenv("AEVAE_PROGRESS", "0")
    it = [1, 2, 3]
    assert book.progress(it) is it
    assert book.glue("answer", 42) is None  # no stray value at the end of a cell


def test_glue_values_are_plain_python_numbers():
    import numpy as np
    import torch

    from aevae.book import plain

    for value, expected, kind in [(np.float64(0.25), 0.25, float), (np.int64(3), 3, int), (np.array(1.5), 1.5, float),
                                  (torch.tensor(2.0), 2.0, float), (torch.tensor([7]), 7, int), (0.5, 0.5, float),
                                  (np.bool_(True), True, bool)]:
        out = plain(value)
        assert type(out) is kind and out == expected, (value, out)
        assert "np." not in repr(out) and "tensor" not in repr(out)
    assert plain("text") == "text" and plain([1, 2]) == [1, 2]


def test_record_results_refuses_timings():
    import pytest

    from aevae.book import record_results

    with pytest.raises(ValueError, match="timings"):
        record_results("99_test", {"mse": 0.1, "train_seconds": {"AE": 3.0}})
    with pytest.raises(ValueError, match="wall_seconds"):
        record_results("99_test", {"nested": [{"wall_seconds": 1.0}]})


def test_claims_records_value_bound_and_verdict():
    claims = book.Claims()
    assert claims.check("variance kept at k=2", np.float64(0.4712), lo=0.44, hi=0.50)
    assert claims.check("at least 75 components", 84, lo=75)
    assert claims.check("gap below 0.1%", torch.tensor(0.05), hi=0.1)
    assert claims.check("MSE falls with k", [0.05, 0.02, 0.015], holds=True, bound="decreasing")
    assert claims.check("bounds are inclusive", 95, lo=75, hi=95)
    df = claims.table()
    assert list(df.columns) == ["statement", "measured", "bound", "holds"]
    assert list(df.index) == [1, 2, 3, 4, 5]
    assert df.loc[1].tolist() == ["variance kept at k=2", "0.4712", "0.44 to 0.5", "✓"]
    assert df.loc[2, "bound"] == "≥ 75" and df.loc[3, "bound"] == "≤ 0.1"
    assert df.loc[3, "measured"] == "0.05"  # a tensor is shown as its number, not tensor(0.05)
    assert df.loc[4, "measured"] == "0.05, 0.02, 0.015" and df.loc[4, "bound"] == "decreasing"
    assert claims.assert_all() is claims
    html = claims._repr_html_()
    assert "<table" in html and "MSE falls with k" in html and "tensor(" not in html
    assert "variance kept at k=2" in repr(claims)


def test_claims_fail_at_the_end_naming_every_broken_statement():
    claims = book.Claims()
    assert not claims.check("two components keep 44-50%", 0.60, lo=0.44, hi=0.50)
    assert claims.check("fine", 1.0, hi=2.0)
    assert not claims.check("falls with k", [1, 2], holds=False, bound="decreasing")
    assert not claims.check("nan never holds", float("nan"), lo=0.0)
    assert claims.failed == ["two components keep 44-50%", "falls with k", "nan never holds"]
    assert claims.table()["holds"].tolist() == ["✗ FAILS", "✓", "✗ FAILS", "✗ FAILS"]
    with pytest.raises(AssertionError, match=r"3 of 4 claims fail") as err:
        claims.assert_all()
    for statement in claims.failed:
        assert statement in str(err.value)
    assert "fine" not in str(err.value).split("fail:")[1]


def test_claims_refuse_unbounded_or_ambiguous_checks():
    claims = book.Claims()
    with pytest.raises(ValueError, match="give a bound"):
        claims.check("no bound", 1.0)
    with pytest.raises(ValueError, match="not both"):
        claims.check("both", 1.0, lo=0, holds=True)
    with pytest.raises(TypeError, match="need a number"):
        claims.check("a string in an interval", "abc", lo=0)
    with pytest.raises(ValueError, match="statement"):
        claims.check("", 1.0, lo=0)
    with pytest.raises(AssertionError, match="no claims"):
        book.Claims().assert_all()
