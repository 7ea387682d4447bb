"""Packages: ``kcnn`` and its subpackages, and the recipe files of ``recipes/`` installed as
``kcnn/recipes`` so that ``kcnn train NAME`` finds them outside a source checkout."""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["kcnn", "kcnn.*"]) + ["kcnn.recipes"],
      package_dir={"kcnn.recipes": "recipes"},
      package_data={"kcnn.imagenet": ["classes.json"]})
