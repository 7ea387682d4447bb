"""The two training engines.

* ``fit_keras``: ``model.fit`` with kcnn's callbacks, resumed from the run folder's newest
  readable state (``RunDirectory.restore``) and backed up after every epoch
  (``EpochBackup``, an atomic replacement for Keras's ``BackupAndRestore``); used with the
  default and the mirrored strategy.
* ``fit_distributed``: kcnn's own train step run through ``strategy.run`` inside a
  ``tf.function`` (TensorFlow's distribution engine), for ``MultiWorkerMirroredStrategy``.
  Keras 3.15's ``model.fit`` fails there with two workers (``ValueError: Attempt to convert a
  value (PerReplica...)``, keras-team/keras#20585), and ``BackupAndRestore`` and
  ``ModelCheckpoint`` have no chief/worker logic. Every worker runs the same steps and the
  same saves (collective operations need all of them); non-chief workers save into a
  temporary folder, so only the chief's files persist.

Both take the loss from ``model.compile`` (``model.compute_loss``: compiled losses, loss
weights, regularization, scaled for the number of replicas) and drive the same callbacks.
"""

from __future__ import annotations

import keras

from kcnn._console import fit_verbose
from kcnn.training.callbacks import EpochBackup

__all__ = ["fit_distributed", "fit_keras"]


def fit_keras(model, train, *, epochs, run, callbacks, validation=None, steps_per_epoch=None,
              verbose=1):
    """``model.fit`` that resumes from the run folder's newest readable state; returns the
    History.

    The backup callback goes last, so an epoch is committed only after every other
    callback wrote its files for it.
    """
    if not model.built:
        raise ValueError("fit_keras needs a built model (call it on a batch first). "
                         f"Received: model={model.name!r} (unbuilt)")
    with model.distribute_strategy.scope():
        initial_epoch = run.restore(model)
    return model.fit(train, epochs=epochs, initial_epoch=initial_epoch,
                     validation_data=validation, steps_per_epoch=steps_per_epoch,
                     callbacks=[*callbacks, EpochBackup(run)], verbose=fit_verbose(verbose),
                     shuffle=False)


def _check_agreement(strategy, epoch):
    """Raises unless every worker restored the same epoch (a sum over replicas equals
    ``replicas * epoch`` on every worker exactly when all the epochs are equal)."""
    import tensorflow as tf

    per_replica = strategy.run(lambda: tf.constant(epoch, tf.int64))
    total = int(strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None))
    if total != strategy.num_replicas_in_sync * epoch:
        raise RuntimeError(
            f"The workers would resume from different epochs (this one from epoch {epoch}). "
            "Resuming a multi-worker run needs --output on a filesystem every worker can "
            "read; otherwise start afresh with --overwrite.")


def fit_distributed(model, train, *, strategy, epochs, steps_per_epoch, run, callbacks,
                    validation=None, verbose=1):
    """Trains a compiled ``model`` with ``strategy.run``; returns a ``keras.callbacks.History``.

    Args:
        model: compiled model built under ``strategy.scope()``.
        train: ``tf.data.Dataset`` of ``(x, y)`` batches of the global batch size; it is
            repeated and distributed here (sharded by data across workers).
        strategy: a ``tf.distribute`` strategy (any; tests also use it with Mirrored).
        epochs: number of epochs.
        steps_per_epoch: batches per epoch (required: every worker must run the same count).
        run: the ``RunDirectory`` (the chief's or a worker's temporary one).
        callbacks: Keras callbacks driven per batch and per epoch.
        validation: optional dataset evaluated after each epoch with ``val_`` metrics.
        verbose: 0, 1 (progress bar) or 2; only the chief prints.
    """
    import tensorflow as tf

    if not steps_per_epoch:
        raise ValueError("`steps_per_epoch` is needed for distributed training (every worker "
                         f"must run the same number of steps). Received: {steps_per_epoch!r}")
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    train_dist = strategy.experimental_distribute_dataset(train.repeat().with_options(options))
    val_dist = (strategy.experimental_distribute_dataset(validation.with_options(options))
                if validation is not None else None)

    with strategy.scope():
        loss_tracker = keras.metrics.Mean(name="loss")
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
    optimizer = model.optimizer
    from keras.src.losses.loss import unscale_loss_for_distribution

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
            scaled = optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        loss_tracker.update_state(unscale_loss_for_distribution(loss),
                                  sample_weight=tf.shape(x)[0])
        model.compute_metrics(x, y, y_pred, sample_weight=None)

    def replica_test_step(x, y):
        y_pred = model(x, training=False)
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=False)
        loss_tracker.update_state(unscale_loss_for_distribution(loss),
                                  sample_weight=tf.shape(x)[0])
        model.compute_metrics(x, y, y_pred, sample_weight=None)

    @tf.function
    def train_step(iterator):
        x, y = next(iterator)[:2]
        strategy.run(replica_step, args=(x, y))

    @tf.function
    def test_step(batch):
        strategy.run(replica_test_step, args=tuple(batch[:2]))

    def results(prefix=""):
        out = {f"{prefix}loss": loss_tracker.result()}
        for metric in model.metrics:
            if metric.name == "loss":
                continue
            values = metric.result()
            values = values if isinstance(values, dict) else {metric.name: values}
            out.update({f"{prefix}{k}": v for k, v in values.items()})
        return {k: float(keras.ops.convert_to_numpy(v)) for k, v in out.items()}

    def reset():
        loss_tracker.reset_state()
        model.reset_metrics()

    history = keras.callbacks.History()
    cb = keras.callbacks.CallbackList([*callbacks, history], add_history=False,
                                      add_progbar=bool(verbose) and run.chief, model=model,
                                      verbose=fit_verbose(verbose), epochs=epochs,
                                      steps=steps_per_epoch)
    initial_epoch = run.restore(model)
    _check_agreement(strategy, initial_epoch)
    model.stop_training = False
    cb.on_train_begin()
    iterator = iter(train_dist)
    logs = {}
    for epoch in range(initial_epoch, epochs):
        reset()
        cb.on_epoch_begin(epoch)
        for step in range(steps_per_epoch):
            cb.on_train_batch_begin(step)
            train_step(iterator)
            logs = results()
            cb.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        if val_dist is not None:
            reset()
            for batch in val_dist:
                test_step(batch)
            logs.update(results("val_"))
        cb.on_epoch_end(epoch, logs)
        run.write_backup(model, epoch + 1)  # the commit, after every callback's files
        if model.stop_training:
            break
    cb.on_train_end(logs)
    return history
