"""The `divergent` command line."""

import json
import subprocess
import sys
from importlib.metadata import entry_points

import divergent as dv
import numpy as np
import pytest
from divergent import cli


def table_values(text):
    """{label: value} from the printed table."""
    values = {}
    for row in cli.ROWS:
        line = next(line for line in text.splitlines() if line.startswith(row.label))
        field = line[len(row.label) :].split()[0]
        values[row.label] = None if field == "n/a" else float(field)
    return values


def test_demo_prints_every_row_with_the_library_values(capsys):
    assert cli.main(["demo", "--n", "400", "--d", "3", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    x, y = cli.demo_samples(400, 3, 0.1, 5)
    values = table_values(out)
    assert values["energy distance"] == pytest.approx(dv.energy_distance(x, y), rel=1e-5)
    assert values["MMD^2 gaussian (unbiased, median h)"] == pytest.approx(dv.mmd(x, y), rel=1e-5)
    assert values["KL(x || y), k-NN (k = 1)"] == pytest.approx(dv.kl_divergence(x, y), rel=1e-5)
    assert values["Jensen-Shannon, k-NN (k = 3)"] == pytest.approx(dv.js_divergence(x, y), rel=1e-5)
    assert values["mutual information of paired rows, KSG (k = 3)"] == pytest.approx(
        dv.mutual_information(x, y), rel=1e-5
    )
    assert all(v is not None for v in values.values())
    assert "ms" in out


@pytest.mark.parametrize("fmt", ["npy", "csv", "csv-header"])
def test_compare_reads_files(tmp_path, capsys, fmt, rng):
    x, y = rng.normal(size=(120, 2)), rng.normal(size=(90, 2)) + 1
    paths = []
    for name, arr in (("x", x), ("y", y)):
        if fmt == "npy":
            p = tmp_path / f"{name}.npy"
            np.save(p, arr)
        else:
            p = tmp_path / f"{name}.csv"
            header = "a,b" if fmt == "csv-header" else ""
            np.savetxt(p, arr, delimiter=",", header=header, comments="")
        paths.append(str(p))
    assert cli.main(["compare", *paths]) == 0
    out = capsys.readouterr().out
    values = table_values(out)
    assert values["energy distance"] == pytest.approx(dv.energy_distance(x, y), rel=1e-5)
    # 120 vs 90 rows cannot be paired: that row says why, the others are unaffected.
    assert values["mutual information of paired rows, KSG (k = 3)"] is None
    assert "same number of samples" in out


def test_compare_errors_are_reported_not_raised(tmp_path, capsys):
    assert cli.main(["compare", str(tmp_path / "missing.npy"), "y.npy"]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "x.json"
    bad.write_text("[]")
    assert cli.main(["compare", str(bad), str(bad)]) == 2
    assert ".npy or .csv" in capsys.readouterr().err
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, np.zeros((5, 2)))
    np.save(b, np.zeros((5, 3)))
    assert cli.main(["compare", str(a), str(b)]) == 2
    assert "same number of features" in capsys.readouterr().err


def test_threads_option(capsys):
    before = dv.get_num_threads()
    try:
        assert cli.main(["--threads", "1", "demo", "--n", "50"]) == 0
        assert "1 threads" in capsys.readouterr().out
    finally:
        dv.set_num_threads(before)


def test_module_entry_point_and_console_script():
    proc = subprocess.run(
        [sys.executable, "-m", "divergent", "demo", "--n", "200"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "energy distance" in proc.stdout
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("divergent") == "divergent.cli:main"


def test_gaussian_command(tmp_path, capsys):
    files = {"m0": np.zeros(2), "S0": np.eye(2), "m1": np.ones(2), "S1": np.array([2.0, 0.5])}
    for name, arr in files.items():
        np.save(tmp_path / f"{name}.npy", arr)
    paths = [str(tmp_path / f"{k}.npy") for k in files]
    assert cli.main(["gaussian", *paths]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("KL(P || Q)"))
    # 0.5 (tr S1^-1 + D' S1^-1 D - d + log det S1) = 0.5 (2.5 + 2.5 - 2 + 0) = 1.5
    assert float(line.split()[-1]) == pytest.approx(1.5)
    assert "2-Wasserstein distance" in out
    np.save(tmp_path / "bad.npy", np.array([[1.0, 2.0], [2.0, 1.0]]))
    assert cli.main(["gaussian", paths[0], str(tmp_path / "bad.npy"), paths[2], paths[3]]) == 2
    assert "S0 is not positive definite" in capsys.readouterr().err


def test_compare_takes_one_dimensional_samples(tmp_path, capsys, rng):
    paths = []
    for name, shift in (("x", 0.0), ("y", 1.0)):
        np.save(tmp_path / f"{name}.npy", rng.normal(size=300) + shift)
        paths.append(str(tmp_path / f"{name}.npy"))
    assert cli.main(["compare", *paths]) == 0
    out = capsys.readouterr().out
    assert "x 300 x 1, y 300 x 1" in out
    want = dv.ot.sliced_wasserstein(np.load(paths[0]), np.load(paths[1]), seed=0)
    assert f"{want:.5e}" in out


def _fails_with(argv, capsys, *says):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    for s in says:
        assert s in err


@pytest.mark.parametrize(
    "argv, says",
    [
        (["demo", "--seed", "-1"], ("--seed", "non-negative")),
        (["demo", "--shift", "nan"], ("--shift", "finite")),
        (["demo", "--n", "ten"], ("--n", "'ten'")),
        (["gaussian", "a", "b", "c", "d", "--bandwidth", "0"], ("--bandwidth", "positive")),
    ],
)
def test_bad_options_are_named(argv, says, capsys):
    _fails_with(argv, capsys, *says)


def test_failures_exit_2_with_one_line_naming_the_file_or_option(tmp_path, capsys, rng):
    np.save(tmp_path / "y.npy", rng.normal(size=(50, 2)))
    y = str(tmp_path / "y.npy")
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("1,2\n3,x\n")
    strings = tmp_path / "s.npy"
    np.save(strings, np.array(["a", "b"]))
    junk = tmp_path / "junk.npy"
    junk.write_text("not an array")
    for path in (bad_csv, strings, junk):
        assert cli.main(["compare", str(path), y]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"cannot read {path}" in err
    assert cli.main(["--threads", "99999999999999999999", "demo", "--n", "50"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "threads" in err


def test_demo_with_a_huge_shift_reports_rows_that_do_not_apply(capsys):
    assert cli.main(["demo", "--n", "300", "--d", "2", "--shift", "1e200"]) == 0
    out = capsys.readouterr().out
    assert "sliced Wasserstein" in out and "n/a [1]" in out


def test_metrics_command_prints_every_metric_and_json(tmp_path, capsys, rng):
    real = rng.normal(size=(300, 6)).astype(np.float32)
    fake = (rng.normal(size=(250, 6)) + 0.2).astype(np.float32)
    paths = []
    for name, a in (("real", real), ("fake", fake)):
        np.save(tmp_path / f"{name}.npy", a)
        paths.append(str(tmp_path / f"{name}.npy"))
    assert cli.main(["metrics", *paths]) == 0
    out = capsys.readouterr().out
    for name in (
        "fid",
        "kid_mean",
        "kid_std",
        "precision",
        "recall",
        "density",
        "coverage",
        "vendi_real",
        "vendi_fake",
    ):
        assert name in out
    assert cli.main(["metrics", *paths, "--json"]) == 0
    import json

    values = json.loads(capsys.readouterr().out)
    assert values["fid"] == pytest.approx(dv.metrics.fid(real, fake))
    p = dv.metrics.prdc(real, fake)
    assert values["coverage"] == p.coverage and values["density"] == p.density
    assert values["kid_mean"] == dv.metrics.kid(real, fake, subset_size=250, seed=0).mean
    assert cli.main(["metrics", paths[0], paths[1], "--k", "300"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "k=300" in err


def test_logits_command_streams_the_files_and_matches_kl_stats(tmp_path, capsys, monkeypatch):
    assert cli.main(["logits", "--make-example", str(tmp_path)]) == 0
    capsys.readouterr()
    base, quant, mask = (str(tmp_path / f"{n}.npy") for n in ("base", "quant", "mask"))
    # Chunks of 100 positions, so that the stream is folded in several updates.
    monkeypatch.setattr(cli, "LOGIT_CHUNK_ELEMENTS", 100 * 32_000)
    assert cli.main(["logits", base, quant, "--mask", mask, "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    b, q, m = np.load(base), np.load(quant), np.load(mask)
    want = dv.logits.KLStats().update(b, q, m).report().to_dict()
    assert got["n_tokens"] == want["n_tokens"] == int(m.sum())
    for field in ("mean", "sem", "max", "top1_agreement", "delta_p_mean", "delta_p_rms"):
        assert got[field] == pytest.approx(want[field], rel=1e-12), field
    for field in ("median", "p90", "p99", "p999"):
        assert got[field] == want[field]  # the sketch does not depend on the chunking
    assert got["shape"] == [512, 32_000] and got["dtype"] == "float16"
    assert cli.main(["logits", base, quant, "--temperature", "2"]) == 0
    text = capsys.readouterr().out
    assert "mean KL" in text and "same top token" in text and "tokens            512" in text


def test_logits_command_errors(tmp_path, capsys):
    np.save(tmp_path / "a.npy", np.zeros((4, 6), np.float32))
    np.save(tmp_path / "b.npy", np.zeros((4, 5), np.float32))
    np.save(tmp_path / "i.npy", np.zeros((4, 6), np.int64))
    np.save(tmp_path / "m.npy", np.ones(3, bool))
    a, b, i, m = (str(tmp_path / f"{n}.npy") for n in "abim")
    for argv, says in [
        (["logits", a, b], "must match"),
        (["logits", a, i], "float logits"),
        (["logits", a, a, "--mask", m], "bool array of shape (4,)"),
        (["logits", a], "two files"),
        (["logits", a, str(tmp_path / "missing.npy")], "no such file"),
        (["logits", a, str(tmp_path)], "no such file"),
    ]:
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and says in err, (argv, err)
