"""Sweeps over several processes or machines: keras-tuner's chief/worker mode over gRPC.

The chief serves the oracle (:func:`serve_oracle`) and, once every worker is done, writes the
results; each worker asks it for trials and runs them. keras-tuner reads the roles from
``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT``;
:func:`distributed_env` sets them from ``kcnn tune``'s ``--chief``, ``--worker ID`` and
``--oracle-address HOST:PORT`` for the duration of a sweep.

Compared with keras-tuner's own chief loop, the chief here exits as soon as the last worker is
done (keras-tuner polls every 20 s); the worker side of the fixes lives in
:mod:`kcnn.tuning.keras_tuner_fixes`.
"""

from __future__ import annotations

import contextlib
import os
import time

__all__ = ["ROLES", "check_role", "distributed_env", "serve_oracle"]

ROLES = ("chief", "worker")
_KEYS = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


def check_role(role, oracle_address=None, worker_id=None):
    """Validates a role and returns ``(host, port, tuner_id)`` for it (all None for None).

    Raises:
        ValueError: naming the argument that is wrong.
    """
    if role is None:
        return None, None, None
    if role not in ROLES:
        raise ValueError(f"`role` must be 'chief', 'worker' or None. Received: role={role!r}")
    address = oracle_address or os.environ.get("KERASTUNER_ORACLE_IP", "") + ":" + \
        os.environ.get("KERASTUNER_ORACLE_PORT", "")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError("A distributed sweep needs the chief's address as HOST:PORT "
                         "(--oracle-address or KERASTUNER_ORACLE_IP/_PORT). "
                         f"Received: oracle_address={oracle_address!r}")
    if role == "chief":
        return host, port, "chief"
    wid = worker_id or os.environ.get("KERASTUNER_TUNER_ID")
    if not wid or "chief" in wid:
        raise ValueError("A worker needs an id that does not contain 'chief' "
                         f"(--worker ID). Received: worker_id={wid!r}")
    return host, port, wid


@contextlib.contextmanager
def distributed_env(role, oracle_address=None, worker_id=None):
    """Sets keras-tuner's ``KERASTUNER_*`` variables for ``role`` while the sweep runs.

    Args:
        role: None (one process), "chief" or "worker".
        oracle_address: the chief's ``HOST:PORT`` (default: the environment's).
        worker_id: this worker's id (unique per worker, without "chief").
    """
    host, port, tuner_id = check_role(role, oracle_address, worker_id)
    saved = {k: os.environ.get(k) for k in _KEYS}
    try:
        if role is not None:
            os.environ["KERASTUNER_ORACLE_IP"] = host
            os.environ["KERASTUNER_ORACLE_PORT"] = port
            os.environ["KERASTUNER_TUNER_ID"] = tuner_id
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def serve_oracle(oracle, *, poll=0.2):
    """Serves ``oracle`` to the workers over gRPC until the sweep is over.

    Listens on ``KERASTUNER_ORACLE_IP:KERASTUNER_ORACLE_PORT``; returns once the oracle has
    told every worker to stop and no trial is running.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    if not server.add_insecure_port(address):
        raise OSError(f"Could not listen on {address}.")
    server.start()
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            time.sleep(poll)
    finally:
        server.stop(grace=2).wait()
