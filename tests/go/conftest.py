import keras
import pytest


@pytest.fixture(autouse=True)
def _reset_keras_state(request):
    """Most Go tests build no Keras state: skip the (slow) session reset unless the test
    module says ``USES_KERAS = True``."""
    yield
    if getattr(request.module, "USES_KERAS", False):
        keras.mixed_precision.set_dtype_policy("float32")
        keras.backend.clear_session()
