"""What a user installing kcnn from a wheel gets: the package and the recipe files."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from kcnn import training
from kcnn.training import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_recipes_inside_an_installed_package_are_found(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / "kcnn"
    (package / "recipes").mkdir(parents=True)
    (package / "recipes" / "shipped.py").write_text("def main(argv):\n    return 0\n")
    monkeypatch.setattr(cli, "_package_dir", lambda: str(package))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KCNN_RECIPES", raising=False)
    assert training.find_recipe("shipped") == str(package / "recipes" / "shipped.py")
    assert list(training.available_recipes()) == ["shipped"]


def test_wheel_holds_every_subpackage_and_the_recipes(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(os.path.join(ROOT, name), source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("kcnn", "recipes"):
        shutil.copytree(os.path.join(ROOT, name), source / name, ignore=ignore)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
         str(source)], capture_output=True, text=True, timeout=300)
    if result.returncode != 0 and "No matching distribution" in result.stderr:
        pytest.skip("the package registry is out of reach: " + result.stderr[-300:])
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("kcnn-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, _, files in os.walk(os.path.join(ROOT, "kcnn")):
        if "__init__.py" in files:
            rel = os.path.relpath(folder, ROOT).replace(os.sep, "/")
            assert f"{rel}/__init__.py" in names, rel
    for recipe in os.listdir(os.path.join(ROOT, "recipes")):
        if recipe.endswith(".py"):
            assert f"kcnn/recipes/{recipe}" in names, recipe
    assert "kcnn/imagenet/classes.json" in names  # decode_predictions' class names
    assert not any(n.startswith(("tests/", "recipes/")) for n in names)
