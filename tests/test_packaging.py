"""What a user sees of the package on the index and after `pip install`: one version from
one source, the metadata, the abi3 extension, and the release workflow that builds the
wheels (checked as data here, since GitHub Actions cannot run on this machine)."""

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import divergent as dv
import pytest
from divergent import _core

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "release.yml"


def test_one_version_everywhere():
    # Cargo.toml's workspace version reaches the metadata (through maturin) and the
    # extension (through CARGO_PKG_VERSION); divergent.__version__ is the extension's.
    assert dv.__version__ == _core.__version__ == metadata.version("divergent")
    out = subprocess.run([sys.executable, "-m", "divergent", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"divergent {dv.__version__}"


def test_index_metadata():
    meta = metadata.metadata("divergent")
    classifiers = meta.get_all("Classifier")
    assert "Typing :: Typed" in classifiers
    for minor in range(10, 15):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert any(c.startswith("Operating System ::") for c in classifiers)
    assert meta["Requires-Python"] == ">=3.10"
    assert meta["License-Expression"] == "MIT OR Apache-2.0"
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert {"Homepage", "Repository", "Issues"} <= set(urls)
    assert "optimal transport" in meta["Keywords"].split(",")
    assert meta["Description-Content-Type"].startswith("text/markdown")
    # The README is the long description: the body after the headers. (Read from the
    # file: a finder installed by importlib_metadata may serve the Message in a form
    # that moves the body into a header.)
    text = metadata.distribution("divergent").read_text("METADATA")
    assert text.split("\n\n", 1)[1].lstrip().startswith("# divergent")


def test_extension_is_abi3():
    tags = [
        line.split(": ", 1)[1]
        for line in metadata.distribution("divergent").read_text("WHEEL").splitlines()
        if line.startswith("Tag: ")
    ]
    assert tags and all(t.startswith("cp310-abi3-") for t in tags), tags
    if sys.platform != "win32":
        assert Path(_core.__file__).name.startswith("_core.abi3."), _core.__file__


@pytest.fixture(scope="module")
def workflow():
    if not WORKFLOW.is_file():
        pytest.skip("the tests are not run from a source checkout")
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(WORKFLOW.read_text())


def _builds(job):
    return [s for s in job["steps"] if s.get("uses", "").startswith("PyO3/maturin-action@")]


def test_release_workflow_builds_every_platform(workflow):
    jobs = workflow["jobs"]
    targets = {
        name: [p["target"] for p in job.get("strategy", {}).get("matrix", {}).get("platform", [])]
        for name, job in jobs.items()
    }
    assert set(targets["linux"]) == {"x86_64", "aarch64"}
    assert set(targets["macos"]) == {"x86_64", "aarch64"}
    for name in ("linux", "macos", "windows"):
        (build,) = _builds(jobs[name])
        assert "--release" in build["with"]["args"]
        assert "--locked" in build["with"]["args"]
        # An abi3 wheel needs no interpreter per Python version.
        assert "--find-interpreter" not in build["with"]["args"]
        tested = " ".join(s.get("run", "") for s in jobs[name]["steps"])
        assert "[test]" in tested and "pytest" in tested and "divergent demo" in tested
        assert 'cd "$RUNNER_TEMP"' in tested, "the wheel must be tested from outside the source tree"
    (linux_build,) = _builds(jobs["linux"])
    assert str(linux_build["with"]["manylinux"]).startswith("2_")
    (sdist,) = _builds(jobs["sdist"])
    assert sdist["with"]["command"] == "sdist"


def test_release_workflow_publishes_on_a_tag(workflow):
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
    triggers = workflow.get("on", workflow.get(True))
    assert triggers["push"]["tags"]
    release = workflow["jobs"]["release"]
    assert set(release["needs"]) == {"linux", "macos", "windows", "sdist"}
    assert "refs/tags/" in release["if"]
    assert release["permissions"]["id-token"] == "write"
    assert any("publish" in s.get("run", "") for s in release["steps"])
