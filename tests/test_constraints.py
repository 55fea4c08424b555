"""constraints.txt pins one version of every dependency, inside the range pyproject.toml asks for."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name as canonical
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def pins() -> dict[str, Version]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not a pin (NAME==VERSION)"
            assert canonical(name) not in out, f"constraints.txt pins {name} twice"
            out[canonical(name)] = Version(version)
    return out


def test_every_dependency_is_pinned_inside_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]
    pinned = pins()
    for req in wanted:
        if req.marker is not None and not req.marker.evaluate():
            continue
        version = pinned.get(canonical(req.name))
        assert version is not None, f"constraints.txt does not pin {req.name}"
        assert req.specifier.contains(version, prereleases=True), f"{req.name}=={version} is outside {req}"


def test_setup_installs_with_the_pins():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert re.search(r"install -c constraints\.txt -e", setup)
    assert "constraints.txt" in setup.split("want=")[1].split("\n")[0]  # a changed pin rebuilds the venv
