"""One custom `tf.function` training loop, shared by the three stages.

The loop owns the step counter, the optimizer(s), checkpoints, validation, TensorBoard
summaries, `history.jsonl` and the non-finite-loss guard; the stage (see `stages.py`)
supplies the loss terms and the variables to train. Checkpoint order, as in big_vision:
resume this stage > initialise from the previous stages (`initialize_fn`) > scratch.
"""

import os
import time
from typing import Callable

import tensorflow as tf
from absl import logging

from s_cnn_rnn import errors
from s_cnn_rnn import model_dir as model_dir_lib
from s_cnn_rnn import stage_handovers
from s_cnn_rnn.training import chief
from s_cnn_rnn.training import history as history_lib
from s_cnn_rnn.training import interrupts
from s_cnn_rnn.training import stages
# How a stage is configured and its optimizer; here too, for the code that reaches them as trainer.*.
from s_cnn_rnn.training.stage_settings import OPTIMIZERS, StageSettings, make_optimizer  # noqa: F401


class NonFiniteLossError(errors.UserError, RuntimeError):
    """Training produced a NaN or infinite loss; the last good checkpoint is kept."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training; the message says which step was saved (a rerun resumes there)."""


class StageTrainer:
    """Trains one stage of one model.

    Args:
      model: an `SCnnRnnModel` built inside `strategy.scope()`.
      strategy: the tf.distribute strategy.
      settings: the stage's settings.
      stage_dir: `MODEL_DIR/<stage>`: checkpoints/, tensorboard/, history.jsonl.
      train_dataset_fn: `start_step -> tf.data.Dataset` of global batches, repeating,
        positioned so that a resumed run sees the batches an uninterrupted run would.
      val_dataset_fn: `() -> tf.data.Dataset` or None.
      decoded_validation: `(step, validation, checkpoint, stage_dir) -> dict` run after each
        loss validation (decoded metrics, best checkpoint: `decoded_validation.py`), or None.
        With a true `decodes_images`, a fresh stage also validates at step 0 (what it was handed).
    Every history record gets `history.StageClock`'s "wall_seconds", "validation_wall_seconds" and
    "cpu_seconds".
    """

    def __init__(self, model, strategy, settings: StageSettings, stage_dir: str,
                 train_dataset_fn: Callable[[int], tf.data.Dataset],
                 val_dataset_fn: Callable[[], tf.data.Dataset] | None = None, decoded_validation=None):
        # The stage's start: its wall_seconds and cpu_seconds count from here.
        self._started, self._started_cpu = time.perf_counter(), time.process_time()
        self.model = model
        self.strategy = strategy
        self.settings = settings
        self.stage_dir = stage_dir
        self._train_dataset_fn = train_dataset_fn
        self._val_dataset_fn = val_dataset_fn
        self._val_step = None  # made at the first validation, for its data's spec
        self._decoded_validation = decoded_validation
        os.makedirs(stage_dir, exist_ok=True)
        with strategy.scope():
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            # First non-finite step seen (0 = none); read by the host at log/save points.
            self.bad_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="bad_step")
            make = lambda: make_optimizer(  # noqa: E731
                settings.optimizer, settings.learning_rate, settings.gradient_clip_norm, settings.mixed_precision
            )
            self.optimizer = make()
            # A separate optimizer for the head-only phase: its slots cover fewer variables.
            self.head_optimizer = make() if settings.head_steps > 0 else None
        # Only the parts this stage hands on (the rnn stage: the decoder, not the untouched backbone).
        items = dict(stage_handovers.saved_items(model, settings.stage), step=self.step, optimizer=self.optimizer)
        if self.head_optimizer is not None:
            items["head_optimizer"] = self.head_optimizer
        self.checkpoint = tf.train.Checkpoint(**items)
        # Only the chief writes the stage dir; other workers save to their own temporary dir.
        self.is_chief = chief.is_chief(strategy)
        self.manager = chief.CheckpointSaver(
            self.checkpoint, os.path.join(stage_dir, model_dir_lib.CHECKPOINTS_DIR), strategy, max_to_keep=3
        )

    # ----------------------------------------------------------------- steps
    def make_train_step(self, head_only: bool):
        """The step function `run` calls: `train_step(iterator) -> {loss terms}` (public for benchmarks)."""
        stage, model, strategy = self.settings.stage, self.model, self.strategy
        optimizer = self.head_optimizer if head_only else self.optimizer
        global_batch = self.settings.batch_size
        variables = stages.trainable_variables(stage, model, head_only)
        if not variables:
            raise ValueError(f"stage {stage!r} has no trainable variable (is the CNN frozen?)")
        if not optimizer.built:
            # Its slot variables made now, not in the first call: a tf.function that creates variables
            # is traced twice, and the train step is the costliest trace of a stage.
            with strategy.scope():
                optimizer.build(variables)

        # autograph=False here and below: the steps use TF ops for all control flow, and AutoGraph's
        # source rewrite of them (and of every function they call) only adds seconds to each trace.
        @tf.function(jit_compile=self.settings.jit_compile, autograph=False)
        def compute_gradients(batch):
            with tf.GradientTape() as tape:
                terms = stages.per_example_losses(stage, model, batch, training=True)
                averaged = {k: tf.nn.compute_average_loss(v, global_batch_size=global_batch) for k, v in terms.items()}
                loss = tf.add_n(list(averaged.values()))
                scaled = optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss
            return tape.gradient(scaled, variables), loss, averaged

        def replica_step(batch):
            gradients, loss, averaged = compute_gradients(batch)
            self.bad_step.assign(
                tf.where(tf.logical_and(self.bad_step == 0, tf.logical_not(tf.math.is_finite(loss))),
                         self.step + 1, self.bad_step)
            )
            optimizer.apply_gradients(zip(gradients, variables))
            return dict(averaged, loss=loss)

        @tf.function(autograph=False)
        def train_step(iterator):
            per_replica = strategy.run(replica_step, args=(next(iterator),))
            self.step.assign_add(1)
            return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in per_replica.items()}

        return train_step

    def _make_val_step(self, element_spec):
        """The validation step for batches of `element_spec` (the distributed validation data's)."""
        stage, model, strategy = self.settings.stage, self.model, self.strategy

        def replica_step(batch):
            terms = stages.per_example_losses(stage, model, batch, training=False)
            sums = {k: tf.reduce_sum(v) for k, v in terms.items()}
            sums["count"] = tf.cast(tf.shape(next(iter(terms.values())))[0], tf.float32)
            return sums

        # Traced once, for the data's own spec (caption length and last batch size vary): a trace per
        # shape would be two a stage, and TensorFlow warns of retracing from the fifth trace on.
        @tf.function(input_signature=[element_spec], autograph=False)
        def val_step(batch):
            per_replica = strategy.run(replica_step, args=(batch,))
            return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in per_replica.items()}

        return val_step

    # ------------------------------------------------------------- the loop
    def validate(self) -> dict:
        """Mean loss terms over the validation split (or `validation_steps` batches)."""
        if self._val_dataset_fn is None:
            return {}
        dataset = self._val_dataset_fn()
        if self.settings.validation_steps:
            dataset = dataset.take(self.settings.validation_steps)
        distributed = chief.distribute_dataset(self.strategy, dataset)
        if self._val_step is None:
            self._val_step = self._make_val_step(distributed.element_spec)
        totals = {}
        for batch in distributed:
            for key, value in self._val_step(batch).items():
                totals[key] = totals.get(key, 0.0) + float(value)
        count = max(totals.pop("count", 0.0), 1.0)
        means = {f"val_{k}": v / count for k, v in totals.items()}
        if means:
            means["val_loss"] = sum(means.values())
        return means

    def _check_finite(self, last_good: int) -> None:
        bad = int(self.bad_step.numpy())
        if bad:
            # Name the checkpoint directory only when it holds a checkpoint (it is created by the
            # first save, so a loss that breaks before then leaves none to point at).
            kept = (f"The last good checkpoint (step {last_good}) is kept in {self.manager.directory}."
                    if self.manager.latest_checkpoint else
                    f"No checkpoint of stage {self.settings.stage} was written yet; a rerun starts it again.")
            raise NonFiniteLossError(
                f"stage {self.settings.stage}: {errors.NON_FINITE_LOSS} at step {bad}; training stopped. "
                f"{kept} Lower the learning rate, enable --gradient_clip_norm, or check the data."
            )

    def _log_interrupted_step(self, history, summaries, record: dict, trained, written: int, clock) -> None:
        """Ctrl-C between a step and its history line: `_save_on_interrupt` checkpoints that step, so it
        gets its line too (if it is a logged step) and the history stays contiguous with the checkpoint."""
        step, settings = int(self.step.numpy()), self.settings
        logged = step % settings.log_every == 0 or step == settings.total_steps
        if step <= written or not logged or int(self.bad_step.numpy()):
            return
        if record.get("step") != step:
            # The interrupt may land inside the step's call, after the update, before its losses came back.
            values = trained[1] if trained is not None and trained[0] == step else {}
            record = {key: float(value) for key, value in values.items()}
            record.update(step=step, learning_rate=settings.learning_rate, interrupted=True,
                          phase="head" if step <= settings.head_steps else "all")
        record = dict(record, **clock.stamp())
        history.write(record)
        _write_summaries(summaries, record)

    def _validate_at_start(self, history, summaries, clock) -> None:
        """Step 0 of a fresh stage whose hook decodes images: scores the weights the earlier stages
        handed over (for Ours' joint stage, the pretrained CNN+LSTM), so its curve starts there."""
        hook = self._decoded_validation
        if not (self.settings.validate_every and self._val_dataset_fn is not None
                and getattr(hook, "decodes_images", False)):
            return
        with clock.validating():
            validation = self.validate()
            validation.update(hook(0, validation, self.checkpoint, self.stage_dir))
        record = dict(validation, step=0, **clock.stamp())
        history.write(record)
        _write_summaries(summaries, record)

    def _save_on_interrupt(self, last_saved: int) -> None:
        """Ctrl-C: saves the steps trained so far, then raises `TrainingInterrupted`."""
        step, stage = int(self.step.numpy()), self.settings.stage
        saved = last_saved
        # A multi-worker save is collective: the other workers are not saving now, it would hang.
        if step > last_saved and not int(self.bad_step.numpy()) and not chief.is_multi_worker(self.strategy):
            self.manager.save(checkpoint_number=step)
            saved = step
        where = f"checkpoint of step {saved} in {self.manager.directory}" if saved else "no checkpoint yet"
        raise TrainingInterrupted(
            f"stage {stage} interrupted at step {step} of {self.settings.total_steps} ({where}); "
            "rerun the same command to resume."
        )

    def run(self, initialize_fn: Callable[[], None] | None = None) -> dict:
        """Trains up to `total_steps`, resuming or initialising first; returns the final record."""
        settings = self.settings
        total = settings.total_steps
        if self.is_chief:
            chief.remove_staging_dirs(self.manager.directory)
        latest = self.manager.latest_checkpoint
        if latest:
            restored = self.checkpoint.restore(latest).assert_existing_objects_matched()
        start = int(self.step.numpy())
        if latest and start >= total:
            # Nothing will train: the optimizer slots stay unbuilt, so their values are expected
            # to go unused (without this, TF warns once per slot variable).
            restored.expect_partial()
            logging.info("stage %s already finished at step %d of %d (pass --retrain to train it again)",
                         settings.stage, start, total)
            return {"step": start, "skipped": True}
        if latest:
            logging.info("resuming stage %s at step %d of %d", settings.stage, start, total)
        else:
            if initialize_fn is not None:
                initialize_fn()
            logging.info("starting stage %s: %d steps", settings.stage, total)
        if self.is_chief:
            history = history_lib.HistoryWriter(os.path.join(self.stage_dir, model_dir_lib.HISTORY_FILE), resume_step=start)
            summaries = tf.summary.create_file_writer(os.path.join(self.stage_dir, "tensorboard"))
        else:
            history, summaries = chief.NullHistory(), tf.summary.create_noop_writer()
        clock = history_lib.StageClock(self._started, history.resumed, self._started_cpu)
        iterator = iter(chief.distribute_dataset(self.strategy, self._train_dataset_fn(start)))
        head_step = self.make_train_step(head_only=True) if settings.head_steps > 0 else None
        full_step = self.make_train_step(head_only=False)
        last_good = start
        record = {"step": start}
        window_start, window_step = time.perf_counter(), start
        written, trained = start, None  # the newest history line; (step, values) of the newest step
        stop = interrupts.StopRequest()
        try:
            stop.install()  # Ctrl-C raises at the top of the next step (interrupts.py says why)
            if not latest:
                self._validate_at_start(history, summaries, clock)
                window_start = time.perf_counter()  # the first rate window leaves it out
            for step in range(start + 1, total + 1):
                stop.raise_if_requested()
                if step <= settings.head_steps:
                    with stages.backbone_in_inference_mode(self.model):
                        values = head_step(iterator)
                else:
                    values = full_step(iterator)
                trained = (step, values)
                at_end = step == total
                if step % settings.log_every == 0 or at_end:
                    self._check_finite(last_good)
                    elapsed = time.perf_counter() - window_start
                    steps_per_second = (step - window_step) / max(elapsed, 1e-9)
                    record = {k: float(v) for k, v in values.items()}
                    record.update(
                        step=step,
                        learning_rate=settings.learning_rate,
                        steps_per_second=steps_per_second,
                        examples_per_second=steps_per_second * settings.batch_size,
                        phase="head" if step <= settings.head_steps else "all",
                    )
                    window_start, window_step = time.perf_counter(), step
                    eta = (total - step) / max(steps_per_second, 1e-9)
                    terms = " ".join(f"{k} {record[k]:.4f}" for k in ("loss", "L_u", "L_r") if k in record)
                    logging.info("stage %s step %d/%d %s | %.2f steps/s, ETA %s", settings.stage, step,
                                 total, terms, steps_per_second, _format_seconds(eta))
                if settings.validate_every and (step % settings.validate_every == 0 or at_end):
                    with clock.validating():
                        validation = self.validate()
                        if validation and self._decoded_validation is not None:
                            validation.update(
                                self._decoded_validation(step, validation, self.checkpoint, self.stage_dir))
                    if validation:
                        record = dict(record, step=step, **validation)
                        logging.info("stage %s step %d validation: %s", settings.stage, step,
                                     " ".join(f"{k} {v:.4f}" for k, v in validation.items()))
                if record.get("step") == step:
                    record.update(clock.stamp())
                    history.write(record)
                    written = step  # before anything else: a Ctrl-C from here on must not write it twice
                    _write_summaries(summaries, record)
                if step % settings.checkpoint_every == 0 or at_end:
                    self._check_finite(last_good)
                    self.manager.save(checkpoint_number=step)
                    last_good = step
            stop.raise_if_requested()
        except KeyboardInterrupt:
            self._log_interrupted_step(history, summaries, record, trained, written, clock)
            self._save_on_interrupt(last_good)
            raise
        finally:
            stop.restore()
            history.close()
            summaries.close()
        return record


def _write_summaries(writer, record: dict) -> None:
    with writer.as_default(step=record["step"]):
        for key, value in record.items():
            if key != "step" and isinstance(value, float):
                tf.summary.scalar(key, value)


def _format_seconds(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"
