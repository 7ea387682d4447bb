import keras
import numpy as np
import pytest

import kcnn
from kcnn.registry import register_model, unregister_model


def test_lookup_ignores_case():
    assert kcnn.get_spec("LeNet5").name == "lenet5"
    assert kcnn.build("LENET5_MODERN").name == "lenet5_modern"


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ValueError, match="Did you mean 'lenet5'") as info:
        kcnn.build("lenet55")
    assert "Received: name='lenet55'" in str(info.value)
    with pytest.raises(ValueError, match="Unknown model"):
        kcnn.get_spec("zzzz")
    with pytest.raises(TypeError, match="`name` must be a string"):
        kcnn.build(5)


def test_list_models_wildcards_and_natural_sort():
    names = kcnn.list_models()
    assert names == sorted(names, key=lambda n: [int(t) if t.isdigit() else t for t in
                                                 __import__("re").split(r"(\d+)", n)])
    lenets = kcnn.list_models("LENET*")
    assert lenets == ["lenet5", "lenet5_modern"]
    assert kcnn.list_models("nothing*") == []
    assert set(kcnn.list_models(family="alphago")) == {"alphago_policy", "alphago_value"}
    resnets = kcnn.list_models("resnet*")
    if {"resnet18", "resnet34", "resnet101"} <= set(resnets):
        assert resnets.index("resnet18") < resnets.index("resnet34") < resnets.index("resnet101")


def test_users_register_their_own_builder_and_duplicates_are_refused():
    @register_model("my_tiny_net", family="user", paper="-", input_shape=(8, 8, 1), params=None)
    def my_tiny_net(*, num_classes=3):
        inputs = keras.Input((8, 8, 1), name="image")
        x = keras.layers.Flatten()(inputs)
        return keras.Model(inputs, keras.layers.Dense(num_classes, name="predictions")(x))

    try:
        assert "my_tiny_net" in kcnn.list_models()
        assert kcnn.build("My_Tiny_Net", num_classes=4).output_shape == (None, 4)
        with pytest.raises(ValueError, match="already registered"):
            register_model("MY_TINY_NET", family="user", paper="-", input_shape=(8, 8, 1))(
                my_tiny_net)
        with pytest.raises(ValueError, match="already registered"):
            register_model("lenet5", family="user", paper="-", input_shape=(8, 8, 1))(
                my_tiny_net)
    finally:
        unregister_model("my_tiny_net")
    assert "my_tiny_net" not in kcnn.list_models()


def test_builders_must_be_keyword_only():
    def positional(num_classes=3):
        return None

    with pytest.raises(ValueError, match="keyword-only"):
        register_model("positional_net", family="user", paper="-", input_shape=(1, 1, 1))(
            positional)
    assert "positional_net" not in kcnn.list_models()
    with pytest.raises(TypeError):
        kcnn.get_spec("lenet5").builder(1)


def test_spec_metadata():
    spec = kcnn.get_spec("lenet5")
    assert spec.family == "lenet"
    assert "LeCun" in spec.paper
    assert spec.input_shape == (32, 32, 1)
    assert spec.recipe == "lenet5_digits"
    for name in kcnn.list_models():
        s = kcnn.get_spec(name)
        assert s.paper and s.family and s.description, name
        assert s.params is None or s.params > 0


def test_weights_round_trip_and_mismatch_names_the_layer(tmp_path):
    model = kcnn.build("lenet5_modern")
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 1)).astype("float32")
    for path in (tmp_path / "m.keras", tmp_path / "m.weights.h5"):
        if path.suffix == ".keras":
            model.save(path)
        else:
            model.save_weights(path)
        again = kcnn.build("lenet5_modern", weights=str(path))
        np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), atol=1e-6)
        with pytest.raises(ValueError, match="predictions"):
            kcnn.build("lenet5_modern", num_classes=7, weights=str(path))
    with pytest.raises(ValueError, match="layer 'c3'"):
        kcnn.build("lenet5", weights=str(tmp_path / "m.keras"))
    with pytest.raises(ValueError, match="no such file"):
        kcnn.build("lenet5", weights=str(tmp_path / "missing.keras"))
    with pytest.raises(ValueError, match=r"\.keras or \.weights\.h5"):
        (tmp_path / "w.bin").write_bytes(b"0")
        kcnn.build("lenet5", weights=str(tmp_path / "w.bin"))
    with pytest.raises(TypeError, match="no pretrained weights"):
        kcnn.build("lenet5", weights="imagenet".encode())


@pytest.mark.parametrize("kwargs,match", [
    ({"num_classes": 0}, "num_classes"),
    ({"num_classes": 2.5}, "num_classes"),
    ({"pooling": "bogus"}, "pooling"),
    ({"include_top": "yes"}, "include_top"),
    ({"classifier_activation": "softmaxx"}, "classifier_activation"),
    ({"input_shape": (16, 16, 1)}, "minimum size is 32x32"),
    ({"input_shape": (32, 32)}, "input_shape"),
    ({"activation": "nope"}, "activation"),
    ({"dropout": 1.5}, "dropout"),
])
def test_bad_arguments_name_argument_and_value(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match) as info:
        kcnn.build("lenet5_modern", **kwargs)
    assert "Received:" in str(info.value)


def test_unknown_keyword_is_refused():
    with pytest.raises(TypeError):
        kcnn.build("lenet5", activation="relu")  # the 1998 network has its own squashing


@pytest.mark.parametrize("package,module", [("kcnn.models", "vgg"),
                                            ("kcnn.layers", "pooling")])
def test_a_misspelt_family_or_layer_module_fails_loudly(package, module):
    # The registration is plain imports: a typo is an ImportError at `import kcnn`, never a
    # family silently missing from the registry.
    import importlib
    import inspect
    import re

    source = inspect.getsource(importlib.import_module(package))
    misspelt = re.sub(rf"\b{module}\b", module + "x", source)
    assert misspelt != source
    with pytest.raises(ImportError, match=module + "x"):
        exec(compile(misspelt, f"{package}/__init__.py", "exec"),
             {"__name__": package, "__package__": package})


def test_package_exports_are_literal_and_complete():
    import importlib
    import pkgutil

    import kcnn.layers
    import kcnn.models

    # every layer module's exports, and nothing else, from kcnn.layers
    names = set()
    for info in pkgutil.iter_modules(kcnn.layers.__path__):
        names |= set(importlib.import_module(f"kcnn.layers.{info.name}").__all__)
    assert set(kcnn.layers.__all__) == names
    assert all(hasattr(kcnn.layers, n) for n in kcnn.layers.__all__)
    # every family module is imported (and so registered), and every family is one of them
    modules = {info.name for info in pkgutil.iter_modules(kcnn.models.__path__)
               if not info.name.startswith("_")}
    assert set(kcnn.models.FAMILIES) == modules
    assert {kcnn.get_spec(n).family for n in kcnn.list_models()} <= modules


def _kcnn_sources():
    import pathlib

    root = pathlib.Path(kcnn.__file__).parent
    return sorted(p for p in root.rglob("*.py") if p.name != "__main__.py")


def test_every_module_has_a_literal_all():
    import ast

    missing = []
    for path in _kcnn_sources():
        tree = ast.parse(path.read_text())
        literal = [n for n in tree.body if isinstance(n, ast.Assign)
                   and any(isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets)
                   and isinstance(n.value, (ast.List, ast.Tuple))
                   and all(isinstance(e, ast.Constant) and isinstance(e.value, str)
                           for e in n.value.elts)]
        if not literal:
            missing.append(str(path))
    assert not missing


def test_docstrings_name_functions_where_they_live():
    # Every dotted ``kcnn.x.y`` a module or docstring mentions resolves to a module or an
    # attribute of one, so moved functions leave no stale pointers behind.
    import re

    stale = []
    for path in _kcnn_sources():
        for ref in set(re.findall(r"\bkcnn(?:\.[A-Za-z_]\w*)+", path.read_text())):
            if not _resolves(ref):
                stale.append(f"{path.name}: {ref}")
    assert not stale


def _resolves(dotted):
    """Whether ``a.b.c`` is an importable module or an attribute chain of one."""
    import importlib

    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False
