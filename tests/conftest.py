import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import kcnn  # noqa: E402,F401  (first: TensorFlow's start-up notices are filtered while it loads)
import keras  # noqa: E402
import pytest  # noqa: E402

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared")


@pytest.fixture(params=POLICIES)
def policy(request):
    """Runs the test under each dtype policy, restoring float32 afterwards."""
    keras.mixed_precision.set_dtype_policy(request.param)
    try:
        yield request.param
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


@pytest.fixture(autouse=True)
def _reset_keras_state():
    yield
    keras.mixed_precision.set_dtype_policy("float32")
    keras.backend.clear_session(free_memory=False)


@pytest.fixture
def shared_dir():
    """The team's shared folder (``../shared``); tests using it skip when it is absent."""
    path = os.path.abspath(SHARED)
    if not os.path.isdir(path):
        pytest.skip("../shared is not present")
    return path
