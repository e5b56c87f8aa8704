"""environment.yml and pyproject.toml must name the same packages with the same ranges."""

import re
import tomllib
from importlib.metadata import PackageNotFoundError, requires

import yaml
from packaging.requirements import Requirement

from fleetanalysis.config import PROJECT_ROOT


# conda-forge packages whose name differs from the PyPI one they stand for.
CONDA_NAMES = {"python-duckdb": "duckdb"}


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return [Requirement(text) for text in listed]


def conda_requirements() -> dict[str, str]:
    environment = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    conda = [item for item in environment["dependencies"] if isinstance(item, str)]
    pinned = {}
    for item in conda:
        match = re.match(r"([A-Za-z0-9_.\-]+)\s*(.*)", item)
        name = _name(match.group(1))
        pinned[CONDA_NAMES.get(name, name)] = match.group(2).replace(" ", "")
    return pinned


def pulled_in_by_extras(requirement: Requirement) -> set[str]:
    """Packages that ``name[extra]`` adds, read from the installed package's metadata."""
    try:
        declared = requires(requirement.name) or []
    except PackageNotFoundError:
        return set()
    names = set()
    for text in declared:
        pulled = Requirement(text)
        if pulled.marker and any(pulled.marker.evaluate({"extra": extra}) for extra in requirement.extras):
            names.add(_name(pulled.name))
    return names


def test_every_pyproject_requirement_is_in_environment_yml_with_the_same_range():
    conda = conda_requirements()
    for requirement in pyproject_requirements():
        name = _name(requirement.name)
        assert name in conda, f"{name} is in pyproject.toml but not in environment.yml"
        assert conda[name] == str(requirement.specifier) or set(conda[name].split(",")) == set(
            str(requirement.specifier).split(",")
        ), f"{name}: environment.yml says {conda[name]!r}, pyproject.toml {requirement.specifier}"


def test_environment_yml_adds_nothing_that_pyproject_does_not_ask_for():
    requirements = pyproject_requirements()
    allowed = {_name(r.name) for r in requirements} | {"python", "pip"}
    for requirement in requirements:
        allowed |= pulled_in_by_extras(requirement)
    extra = set(conda_requirements()) - allowed
    assert not extra, f"environment.yml names packages pyproject.toml does not: {sorted(extra)}"


def test_environment_yml_installs_the_project_itself():
    environment = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    assert "-e ." in pip_section
