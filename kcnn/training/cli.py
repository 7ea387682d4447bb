"""``kcnn train <recipe> [settings]``: finding and running recipe files.

Recipes live in the repository's ``recipes/`` folder; a wheel installs them as
``kcnn/recipes`` inside the package. ``kcnn train NAME`` looks for ``NAME.py`` in, in order:

1. ``NAME`` itself when it is a path to a ``.py`` file;
2. the folders listed in the ``KCNN_RECIPES`` environment variable (``os.pathsep``-separated);
3. ``./recipes`` under the current directory;
4. ``recipes/`` inside the installed ``kcnn`` package (a wheel install);
5. ``recipes/`` beside the ``kcnn`` package (a source checkout or editable install).

NAME may also be a registered model whose spec names a recipe (``kcnn train resnet56`` runs
the recipe of ``kcnn.get_spec("resnet56").recipe`` with ``--model resnet56``).
"""

from __future__ import annotations

import importlib.util
import os
import sys

__all__ = ["recipe_dirs", "available_recipes", "find_recipe", "load_recipe_module", "USAGE",
           "cli_main"]


def _package_dir():
    """The folder of the ``kcnn`` package."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def recipe_dirs():
    """The folders searched for recipes, in order."""
    dirs = [d for d in os.environ.get("KCNN_RECIPES", "").split(os.pathsep) if d]
    dirs.append(os.path.join(os.getcwd(), "recipes"))
    package = _package_dir()
    dirs.append(os.path.join(package, "recipes"))
    dirs.append(os.path.join(os.path.dirname(package), "recipes"))
    seen, out = set(), []
    for d in dirs:
        d = os.path.abspath(d)
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out


def available_recipes():
    """``{name: path}`` of every recipe file found (first folder wins)."""
    found = {}
    for d in recipe_dirs():
        if not os.path.isdir(d):
            continue
        for fname in sorted(os.listdir(d)):
            if fname.endswith(".py") and not fname.startswith("_"):
                found.setdefault(fname[:-3], os.path.join(d, fname))
    return found


def find_recipe(name):
    """Path of the recipe file called ``name`` (see the module docstring).

    Raises:
        ValueError: no such recipe, with the available names.
    """
    if name.endswith(".py") and os.path.isfile(name):
        return os.path.abspath(name)
    found = available_recipes()
    if name in found:
        return found[name]
    import difflib

    close = difflib.get_close_matches(name, list(found), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ValueError(f"No recipe named {name!r}.{hint} Recipes found: "
                     f"{', '.join(sorted(found)) or 'none'} (searched "
                     f"{', '.join(recipe_dirs())}; set KCNN_RECIPES to add folders). "
                     f"Received: recipe={name!r}")


def load_recipe_module(path):
    """Imports a recipe file as a module (its ``__name__`` is not ``"__main__"``)."""
    name = "kcnn_recipe_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _resolve(name, argv):
    """(recipe path, argv) for a recipe name or a registered model name."""
    try:
        return find_recipe(name), argv
    except ValueError as not_found:
        try:
            from kcnn.registry import get_spec

            spec = get_spec(name)
        except (ValueError, TypeError):
            raise not_found from None
        if not spec.recipe:
            raise not_found from None
        return find_recipe(spec.recipe), ["--model", spec.name, *argv]


USAGE = """usage: kcnn train RECIPE [--setting VALUE | setting=VALUE ...] [--smoke] [--output DIR]

Trains a network with its paper's recipe. `kcnn train RECIPE --help` lists its settings.
Recipes:
"""


def cli_main(argv=None):
    """Entry point of ``kcnn train``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "--list"):
        print(USAGE + "\n".join(f"  {n:24s} {p}" for n, p in available_recipes().items()))
        return 0 if argv else 2
    try:
        path, rest = _resolve(argv[0], argv[1:])
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    module = load_recipe_module(path)
    if hasattr(module, "main"):
        return int(module.main(rest) or 0)
    return int(module.RECIPE.main(rest) or 0)
