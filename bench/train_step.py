r"""Training-loop overhead and input stall of the joint stage, InceptionV3 at 299 px and the demo.

For each model, one process measures examples/s of four variants, interleaved (the order
rotates every repeat), after one untraced warm-up each (medians over repeats):

  loop_memory    our StageTrainer's step function, called exactly as `StageTrainer.run` calls
                 it (`train_step(iterator)` over `strategy.experimental_distribute_dataset`),
                 fed one cached pipeline batch repeated (in-memory tensors)
  fit_memory     keras `model.fit` on the SAME model, loss (`stages.per_example_losses`, summed
                 and divided by the global batch), optimizer (RMSprop lr 1e-4) and batch
  loop_pipeline  the loop fed by `input_pipeline.make_dataset` over TFRecords written by the
                 project's converter (JPEG decode + crop + resize + scale), with the config
                 `training.stage_runner` trains with
  pipeline_alone the same pipeline drained without training: its own examples/s and CPU cost

  loop_overhead = 1 - loop_memory / fit_memory      (aim: <= 0.05 for InceptionV3)
  input_stall   = 1 - loop_pipeline / loop_memory   (aim: <= 0.05 for InceptionV3)
  pipeline_cpu_share = CPU per example of pipeline_alone / of loop_memory: the stall to expect
                 when decoding and training share saturated cores (as on 2 dedicated CPUs)

Every timed block starts `--lead_in` untimed steps after a fresh iterator (so the pipeline's
prefetch buffers are full at the start and at the end of the block: each block pays for
exactly the batches it consumes, and no pipeline runs in the background of another
variant's block). `_cpu` figures use this process's CPU time (all threads), which other
processes on a shared machine disturb less than wall time. The demo also runs
`StageTrainer.run` itself (`demo_run_examples_per_second`, its history windows after the
first), as a check that the step-function timing is what `run` achieves.

InceptionV3 data: COCO-style captions (vocabulary 12,000, k = 1,000) over the real COCO JPEGs
of `--jpeg_dir` (cycled; generated 640x480 ones if absent), converted by
`data_prep.convert_lib.convert`. Demo data: the built-in synthetic dataset at 96 px; model and
batch from `flags/demo_caption.flags`. The last line printed is one JSON object.

Example:
  python bench/train_step.py            # ~20 min on 2 shared cores
  python bench/train_step.py --quick    # smoke test, ~5 min
"""

import json
import os
import statistics
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import _bench_util as util  # noqa: E402
from s_cnn_rnn import input_pipeline  # noqa: E402
from s_cnn_rnn.models import builder  # noqa: E402
from s_cnn_rnn.models.config import ModelConfig  # noqa: E402
from s_cnn_rnn.training import history as history_lib  # noqa: E402
from s_cnn_rnn.training import stage_runner  # noqa: E402
from s_cnn_rnn.training import runtime  # noqa: E402
from s_cnn_rnn.training import stages  # noqa: E402
from s_cnn_rnn.training import trainer as trainer_lib  # noqa: E402

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_QUICK = flags.DEFINE_bool("quick", False, "Tiny smoke-test run (small data, few steps, InceptionV3 at 75 px).")
_MODELS = flags.DEFINE_list("models", ["demo", "inception_v3"], "Which of demo, inception_v3 to measure.")
_STEPS = flags.DEFINE_integer("steps", 40, "Demo: timed steps per block.")
_REPEATS = flags.DEFINE_integer("repeats", 7, "Demo: blocks per variant.")
_INCEPTION_BATCH = flags.DEFINE_integer(
    "inception_batch_size", 8, "InceptionV3 batch (the paper's 32 takes ~20-30 s a step on 2 shared cores).")
_INCEPTION_STEPS = flags.DEFINE_integer("inception_steps", 3, "InceptionV3: timed steps per block.")
_INCEPTION_REPEATS = flags.DEFINE_integer("inception_repeats", 5, "InceptionV3: blocks per variant.")
_LEAD_IN = flags.DEFINE_integer(
    "lead_in", 0, "Untimed steps at the start of each block; 0 -> 1 (InceptionV3) / 3 (demo).")
_JPEG_DIR = flags.DEFINE_string(
    "jpeg_dir", os.path.join(_ROOT, "..", "shared", "data", "coco_mini12", "images"),
    "Real JPEGs for the InceptionV3 records (cycled); generated 640x480 ones when absent.")
_DEMO_FLAGS = flags.DEFINE_string("demo_flagfile", os.path.join(_ROOT, "flags", "demo_caption.flags"),
                                  "Demo model and batch settings (fallback: small_cnn 32, E 128, LSTM 256, B 32).")

_LEARNING_RATE = 1e-4
_STAGE = "joint"


class FitHarness(keras.Model):
    """`model.fit`'s side: the same forward and loss as the StageTrainer, in a Keras train_step.

    Mirrors Keras' own `train_step` (forward, loss, loss tracker, gradients, apply).
    """

    def __init__(self, model, batch_size: int):
        super().__init__(name="fit_harness")
        self.inner = model
        self.graph = model.full_model  # tracked, so fit sees the model's variables as its own
        self.batch_size = batch_size
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.built = True

    def call(self, batch, training=False):
        return self.inner(batch, training=training)

    @property
    def metrics(self):
        return [self.loss_tracker]

    def train_step(self, batch):
        variables = stages.trainable_variables(_STAGE, self.inner, head_only=False)
        with tf.GradientTape() as tape:
            terms = stages.per_example_losses(_STAGE, self.inner, batch, training=True)
            loss = tf.add_n([tf.nn.compute_average_loss(v, global_batch_size=self.batch_size) for v in terms.values()])
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}


class _BlockTimer(keras.callbacks.Callback):
    """Times fit's batches `lead_in .. lead_in + steps - 1` (fit's own set-up excluded)."""

    def __init__(self, lead_in: int, steps: int, batch_size: int):
        super().__init__()
        self.lead_in, self.steps, self.batch_size = lead_in, steps, batch_size
        self.watch, self.timing = util.Stopwatch(), None

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.lead_in - 1:
            float(logs["loss"])  # wait for the step (a no-op on CPU, where calls are synchronous)
            self.watch.start()
        elif batch == self.lead_in + self.steps - 1:
            float(logs["loss"])
            self.timing = self.watch.stop(self.steps * self.batch_size)


def _model_settings(name: str) -> dict:
    """Model config fields and batch size of `inception_v3` (paper) or `demo` (its flag file)."""
    if name == "inception_v3":
        return {"backbone": "inception_v3", "image_size": 75 if _QUICK.value else 299,
                "embedding_dim": 512, "lstm_units": 512, "lstm_activation": "tanh",
                "batch_size": 2 if _QUICK.value else _INCEPTION_BATCH.value, "source": "paper (M6)"}
    settings = {"backbone": "small_cnn", "image_size": 96, "small_cnn_width": 32, "embedding_dim": 128,
                "lstm_units": 256, "lstm_activation": "tanh", "batch_size": 32, "source": "brief fallback"}
    if os.path.isfile(_DEMO_FLAGS.value):
        values = util.parse_train_flagfile(_DEMO_FLAGS.value)
        for key in ("image_size", "small_cnn_width", "embedding_dim", "lstm_units", "batch_size", "backbone",
                    "lstm_activation"):
            if values[key].present:
                settings[key] = values[key].value
        settings["source"] = os.path.relpath(_DEMO_FLAGS.value, _ROOT)
    return settings


def _make_data(name: str, settings: dict, work_dir: str) -> tuple[str, str]:
    if name == "inception_v3":
        num_images, vocab_words = (32, 1500) if _QUICK.value else (256, 11996)
        return util.realistic_caption_data_dir(work_dir, num_images, vocab_words, _JPEG_DIR.value)
    num_train = 48 if _QUICK.value else 256
    return util.synthetic_data_dir(work_dir, num_train, settings["image_size"]), "synthetic"


class Bench:
    """One model: data, model, StageTrainer, fit harness, and the three timed variants."""

    def __init__(self, name: str, work_dir: str):
        self.name = name
        self.settings = _model_settings(name)
        self.batch_size = self.settings["batch_size"]
        self.data_dir, self.jpeg_origin = _make_data(name, self.settings, work_dir)
        self.work_dir = work_dir
        info = input_pipeline.dataset_info(self.data_dir)
        model_fields = {k: v for k, v in self.settings.items() if k not in ("batch_size", "source")}
        self.model_config = ModelConfig(
            variant="s_cnn_rnn", backbone_weights="none", num_concepts=info["num_concepts"],
            vocab_size=info["vocab_size"], **model_fields)
        self.strategy = runtime.make_strategy("none")
        runtime.set_determinism(0, False)
        with self.strategy.scope():
            self.model = builder.build_model(self.model_config)
        self.options = stage_runner.TrainOptions(
            stage=_STAGE, data_dir=self.data_dir, model_dir=work_dir, task="caption", model=self.model_config,
            stage_settings={_STAGE: self._stage_settings(10**9, 10**9)})
        # The pipeline exactly as stage_runner.train builds it for this stage.
        self.pipeline_config = stage_runner.pipeline_config(self.options, _STAGE, training=True)
        cached = next(iter(self._pipeline()))
        self.memory_dataset = tf.data.Dataset.from_tensors(cached).repeat()
        self.trainer = self._trainer("loop", self._stage_settings(10**9, 10**9), self._pipeline)
        # The step function as `StageTrainer.run` makes and calls it.
        self.train_step = self.trainer.make_train_step(head_only=False)
        self.fit_model = FitHarness(self.model, self.batch_size)
        self.fit_model.compile(optimizer=trainer_lib.make_optimizer("rmsprop", _LEARNING_RATE, 0.0, "float32"),
                               jit_compile=False)

    def _stage_settings(self, train_steps: int, log_every: int) -> trainer_lib.StageSettings:
        return trainer_lib.StageSettings(
            stage=_STAGE, train_steps=train_steps, batch_size=self.batch_size, learning_rate=_LEARNING_RATE,
            optimizer="rmsprop", log_every=log_every, checkpoint_every=10**9, validate_every=0)

    def _trainer(self, name: str, settings, dataset_fn) -> trainer_lib.StageTrainer:
        return trainer_lib.StageTrainer(self.model, self.strategy, settings,
                                        os.path.join(self.work_dir, f"model_{self.name}_{name}"),
                                        lambda start: dataset_fn())

    def _pipeline(self) -> tf.data.Dataset:
        return input_pipeline.make_dataset(self.data_dir, "train", self.pipeline_config)

    # ------------------------------------------------------------------------- variants
    def loop_block(self, dataset_fn, lead_in: int, steps: int) -> util.Timing:
        iterator = iter(self.strategy.experimental_distribute_dataset(dataset_fn()))
        watch = util.Stopwatch()
        for _ in range(lead_in):
            values = self.train_step(iterator)
        float(values["loss"])
        watch.start()
        for _ in range(steps):
            values = self.train_step(iterator)
        float(values["loss"])
        timing = watch.stop(steps * self.batch_size)
        del iterator  # stops the pipeline's background threads before the next block
        return timing

    def fit_block(self, lead_in: int, steps: int) -> util.Timing:
        timer = _BlockTimer(lead_in, steps, self.batch_size)
        self.fit_model.fit(self.memory_dataset, epochs=1, steps_per_epoch=lead_in + steps, verbose=0,
                           shuffle=False, callbacks=[timer])
        return timer.timing

    def drain_block(self, lead_in: int, batches: int) -> util.Timing:
        """The input pipeline alone (no training): what it costs per example and how fast it can go."""
        iterator = iter(self._pipeline())
        watch = util.Stopwatch()
        for _ in range(lead_in):
            next(iterator)
        watch.start()
        for _ in range(batches):
            next(iterator)
        timing = watch.stop(batches * self.batch_size)
        del iterator
        return timing

    def methods(self, lead_in: int, steps: int) -> dict:
        return {
            "loop_memory": lambda: self.loop_block(lambda: self.memory_dataset, lead_in, steps),
            "fit_memory": lambda: self.fit_block(lead_in, steps),
            "loop_pipeline": lambda: self.loop_block(self._pipeline, lead_in, steps),
            "pipeline_alone": lambda: self.drain_block(lead_in, max(24, 2 * steps)),
        }

    def run_check(self, window: int) -> dict:
        """`StageTrainer.run` itself, 3 log windows of `window` steps; median ex/s of windows 2-3."""
        rates = {}
        for name, dataset_fn in (("memory", lambda: self.memory_dataset), ("pipeline", self._pipeline)):
            run_trainer = self._trainer(f"run_{name}", self._stage_settings(3 * window, window), dataset_fn)
            run_trainer.run()
            records = history_lib.read_history(os.path.join(run_trainer.stage_dir, "history.jsonl"))
            rates[name] = statistics.median(r["examples_per_second"] for r in records[1:])
        return rates


def _measure(name: str, work_dir: str) -> dict:
    quick = _QUICK.value
    if name == "inception_v3":
        steps, repeats = (1, 1) if quick else (_INCEPTION_STEPS.value, _INCEPTION_REPEATS.value)
        lead_in = _LEAD_IN.value or 1
    else:
        steps, repeats = (4, 2) if quick else (_STEPS.value, _REPEATS.value)
        lead_in = _LEAD_IN.value or 3
    print(f"\n=== {name}: preparing data and model (load average {util.load_average()})", flush=True)
    bench = Bench(name, work_dir)
    print(f"=== {name}: warm-up (tracing), then {repeats} x {steps} timed steps per variant", flush=True)
    for method in bench.methods(lead_in=1, steps=1).values():
        method()
    load_before = util.load_average()
    results = util.interleaved(bench.methods(lead_in, steps), repeats)
    load_after = util.load_average()
    run_rates = bench.run_check(max(steps, 10)) if name == "demo" else None
    rates = {k: util.median_rate(v) for k, v in results.items()}
    cpu = {k: util.median_cpu_ms(v) for k, v in results.items()}
    figures = {
        "loop_overhead": 1 - rates["loop_memory"] / rates["fit_memory"],
        "input_stall": 1 - rates["loop_pipeline"] / rates["loop_memory"],
        "loop_overhead_paired": util.paired_shortfall(results["loop_memory"], results["fit_memory"]),
        "input_stall_paired": util.paired_shortfall(results["loop_pipeline"], results["loop_memory"]),
        # Extra CPU per example: what the wall-clock ratio would be on two dedicated, saturated cores.
        "loop_cpu_overhead": cpu["loop_memory"] / cpu["fit_memory"] - 1,
        "input_cpu_overhead": cpu["loop_pipeline"] / cpu["loop_memory"] - 1,
        # The input pipeline's own CPU per example as a share of the training step's: the stall to
        # expect when training and decoding share saturated cores (the training alone sets the pace).
        "pipeline_cpu_share": cpu["pipeline_alone"] / cpu["loop_memory"],
        "step_seconds": bench.batch_size / rates["loop_memory"],
        "examples_per_second": rates,
        "examples_per_second_all": {k: [round(t.examples_per_second, 3) for t in v] for k, v in results.items()},
        "cpu_ms_per_example": cpu,
        "run_examples_per_second": run_rates,
        # One trace per iterator type (memory, pipeline); more would mean retracing in the loop.
        "step_function_traces": bench.train_step.experimental_get_tracing_count(),
        "settings": {
            **{k: v for k, v in bench.settings.items()}, "num_concepts": bench.model_config.num_concepts,
            "vocab_size": bench.model_config.vocab_size, "timed_steps_per_block": steps, "repeats": repeats,
            "lead_in_steps": lead_in, "jpegs": bench.jpeg_origin, "optimizer": f"rmsprop lr {_LEARNING_RATE}",
            "stage": _STAGE, "pad_to_max_length": bench.pipeline_config.pad_to_max_length,
            "max_caption_length": bench.pipeline_config.max_caption_length,
            "load_average_before": load_before, "load_average_after": load_after,
        },
    }
    _print_table(name, bench.batch_size, results, figures)
    return figures


def _print_table(name: str, batch_size: int, results: dict, figures: dict) -> None:
    print(f"\n{name}, batch {batch_size}, {figures['settings']['repeats']} repeats x "
          f"{figures['settings']['timed_steps_per_block']} steps, load {figures['settings']['load_average_after']}")
    print(f"{'variant':<16}{'median ex/s':>12}{'min':>10}{'max':>10}{'CPU ms/ex':>12}")
    for variant, timings in results.items():
        values = [t.examples_per_second for t in timings]
        print(f"{variant:<16}{statistics.median(values):>12.2f}{min(values):>10.2f}{max(values):>10.2f}"
              f"{figures['cpu_ms_per_example'][variant]:>12.1f}")
    print(f"loop_overhead {figures['loop_overhead']:+.3f} (paired {figures['loop_overhead_paired']:+.3f}, "
          f"CPU {figures['loop_cpu_overhead']:+.3f});  input_stall {figures['input_stall']:+.3f} "
          f"(paired {figures['input_stall_paired']:+.3f}, CPU {figures['input_cpu_overhead']:+.3f});  "
          f"step {figures['step_seconds']:.3f} s")
    print(f"input pipeline alone: {figures['examples_per_second']['pipeline_alone']:.1f} ex/s, its CPU per example "
          f"= {figures['pipeline_cpu_share']:.3f} of a training step's; step function traces "
          f"{figures['step_function_traces']}")
    if figures["run_examples_per_second"]:
        print(f"StageTrainer.run check (ex/s): {figures['run_examples_per_second']}")


def _rounded(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def main(argv):
    del argv
    unknown = set(_MODELS.value) - {"demo", "inception_v3"}
    if unknown:
        raise app.UsageError(f"--models: unknown {sorted(unknown)}; use demo and/or inception_v3")
    result = {"load_average_start": util.load_average(), "cpus": os.cpu_count(), "quick": _QUICK.value,
              "tensorflow": tf.__version__, "keras": keras.__version__}
    with tempfile.TemporaryDirectory(prefix="bench_train_step_") as work_dir:
        for name in _MODELS.value:
            figures = _measure(name, os.path.join(work_dir, name))
            if name == "inception_v3":
                result.update({key: figures[key] for key in (
                    "loop_overhead", "input_stall", "loop_overhead_paired", "input_stall_paired",
                    "loop_cpu_overhead", "input_cpu_overhead", "pipeline_cpu_share", "examples_per_second",
                    "cpu_ms_per_example",
                    "examples_per_second_all", "step_function_traces")})
                result["inception_step_seconds"] = figures["step_seconds"]
                result["inception_settings"] = figures["settings"]
            else:
                result.update({f"demo_{key}": value for key, value in figures.items()})
    result["load_average_end"] = util.load_average()
    print(json.dumps(_rounded(result)))


if __name__ == "__main__":
    app.run(main)
