"""A trained model dir -> a self-contained SavedModel for serving.

The SavedModel needs nothing from this project: image decoding, preprocessing, the model,
greedy / beam decoding and the vocabularies (string constants) are all in its graph.
Signatures (`model_info.json` describes them too):

  serving_default  image_bytes string [B] (JPEG, PNG, GIF, BMP or WebP file bytes)
                   [+ tags float32 [B, num_tags] multi-hot, tags.txt order, for use_tags models]
  tf_example       examples string [B]: serialized tf.train.Example in the converter's
                   record format (image/encoded; tag/indices for use_tags models)

Both give the same outputs (`serving.outputs.OUTPUT_DOCS`). Bytes that are not an image
fail with InvalidArgumentError "image_bytes[i] is not a JPEG, PNG, ... image".

It is built with `keras.export.ExportArchive`, which saves the TF variables the endpoints
capture so that `saved_model_cli run` and TF Serving can load it (a plain `tf.saved_model.save`
of a tf.Module around Keras 3 layers cannot be run by `saved_model_cli`).

Layout written (atomically: a temporary sibling dir renamed into place):

  EXPORT_DIR/saved_model.pb, variables/           the SavedModel
  EXPORT_DIR/assets.extra/model_info.json         task, sizes, signatures, provenance
  EXPORT_DIR/assets.extra/model_config.json       the model dir's ModelConfig + task
  EXPORT_DIR/assets.extra/vocab/*.txt             the vocabularies (for people; the graph has its own)
"""

import datetime
import json
import os
import shutil
import time
import uuid

import keras
import tensorflow as tf

from s_cnn_rnn import atomic_files
from s_cnn_rnn import record_schema
from s_cnn_rnn import inference
from s_cnn_rnn import model_dir as model_dir_lib
from s_cnn_rnn import output_guard
from s_cnn_rnn import tasks
from s_cnn_rnn.serving import image_input
from s_cnn_rnn.serving import outputs as outputs_lib

EXTRA_DIR = "assets.extra"
MODEL_INFO_FILE = "model_info.json"


class ExportDirExistsError(output_guard.UnsafeOutputError):
    """The export dir exists and `overwrite` was not asked for, or it is (in) the model dir or not an export."""


class ServingFunctions:
    """The signature bodies: encoded images or records -> `outputs_lib.string_outputs`.

    Args:
      annotator: the `inference.Annotator` to run.
    """

    def __init__(self, annotator: inference.Annotator):
        self.annotator = annotator
        self.trained = annotator.trained
        self.config = self.trained.config
        self.image_size, self.mode = image_input.model_image_settings(self.config)

    @property
    def uses_tags(self) -> bool:
        return bool(self.config.use_tags)

    def model_inputs(self, encoded, element_name: str = "image_bytes[{}]") -> tf.Tensor:
        """Encoded images string `[B]` -> float32 `[B, S, S, 3]`: the pixels the model gets."""
        return image_input.images_from_bytes(encoded, self.image_size, self.mode, element_name)

    def _annotate(self, encoded, tags, element_name: str) -> dict:
        images = self.model_inputs(encoded, element_name)
        batch_size = tf.shape(images)[0]
        if self.uses_tags:
            check = tf.debugging.assert_equal(
                tf.shape(tags)[0], batch_size,
                message=f"tags must have one row per image ([B, {self.config.num_tags}])",
            )
            with tf.control_dependencies([check]):
                tags = tf.identity(tags)
        # The backbone fails on an empty batch: give it one blank image then, and drop its result.
        padding = tf.maximum(1 - batch_size, 0)
        images = tf.pad(images, [[0, padding], [0, 0], [0, 0], [0, 0]])
        if self.uses_tags:
            tags = tf.pad(tags, [[0, padding], [0, 0]])
        raw = self.annotator(images, tags=tags if self.uses_tags else None)
        outputs = outputs_lib.string_outputs(raw, self.trained)
        return {name: value[:batch_size] for name, value in outputs.items()}

    def from_image_bytes(self, image_bytes, tags=None) -> dict:
        """serving_default: image_bytes string `[B]` (+ tags float32 `[B, num_tags]`)."""
        return self._annotate(image_bytes, tags, "image_bytes[{}]")

    def from_examples(self, examples) -> dict:
        """tf_example: serialized records string `[B]` -> the same outputs."""
        spec = {record_schema.IMAGE_ENCODED: tf.io.FixedLenFeature([], tf.string, default_value="")}
        if self.uses_tags:
            spec[record_schema.TAG_INDICES] = tf.io.VarLenFeature(tf.int64)
        parsed = tf.io.parse_example(examples, spec)
        tags = None
        if self.uses_tags:
            tags = _multi_hot(parsed[record_schema.TAG_INDICES], self.config.num_tags)
        return self._annotate(parsed[record_schema.IMAGE_ENCODED], tags, f"examples[{{}}] {record_schema.IMAGE_ENCODED}")

    def input_signatures(self) -> dict:
        """{endpoint: (function, input signature)} for `ExportArchive.add_endpoint`."""
        image_bytes = tf.TensorSpec([None], tf.string, name="image_bytes")
        examples = tf.TensorSpec([None], tf.string, name="examples")
        if self.uses_tags:
            tags = tf.TensorSpec([None, self.config.num_tags], tf.float32, name="tags")

            def serving_default(image_bytes, tags):
                return self.from_image_bytes(image_bytes, tags)

            serving = (serving_default, [image_bytes, tags])
        else:

            def serving_default(image_bytes):
                return self.from_image_bytes(image_bytes)

            serving = (serving_default, [image_bytes])

        def tf_example(examples):
            return self.from_examples(examples)

        return {"serving_default": serving, "tf_example": (tf_example, [examples])}


def _multi_hot(indices: tf.SparseTensor, depth: int) -> tf.Tensor:
    """Sparse int64 `[B, n]` indices -> float32 `[B, depth]` multi-hot."""
    check = tf.debugging.assert_less(
        indices.values, tf.constant(depth, tf.int64),
        message=f"tag/indices out of range (>= {depth}): the record was not converted with this model's tags.txt",
    )
    with tf.control_dependencies([check]):
        positions = tf.stack([indices.indices[:, 0], indices.values], axis=1)  # [n, 2]
    hits = tf.scatter_nd(positions, tf.ones_like(indices.values, tf.float32), [indices.dense_shape[0], depth])
    return tf.minimum(hits, 1.0)


def signature_docs(functions: ServingFunctions, beam_width: int, max_length: int) -> dict:
    """The signatures' inputs and outputs, for model_info.json (and people)."""
    trained = functions.trained
    names = outputs_lib.output_names(trained)
    shapes = {"T": max_length, "beam": beam_width, "k": trained.config.num_concepts,
              "top_k": functions.annotator.top_k}
    described_outputs = {}
    for name in names:
        dtype, shape, meaning = outputs_lib.OUTPUT_DOCS[name]
        described_outputs[name] = {"dtype": dtype, "shape": shape, "meaning": meaning}
    tags_doc = {
        "dtype": "float32", "shape": f"[B, {trained.config.num_tags}]",
        "meaning": "multi-hot noisy user tags, column i = line i of assets.extra/vocab/tags.txt "
                   "(all zeros for an image without tags)",
    }
    serving_inputs = {"image_bytes": {"dtype": "string", "shape": "[B]",
                                      "meaning": "the bytes of a JPEG, PNG, GIF, BMP or WebP file"}}
    record_keys = record_schema.IMAGE_ENCODED
    if functions.uses_tags:
        serving_inputs["tags"] = tags_doc
        record_keys += f" and {record_schema.TAG_INDICES}"
    return {
        "serving_default": {"inputs": serving_inputs, "outputs": described_outputs},
        "tf_example": {
            "inputs": {"examples": {"dtype": "string", "shape": "[B]",
                                    "meaning": f"serialized tf.train.Example records (reads {record_keys})"}},
            "outputs": described_outputs,
        },
        "dimensions": shapes,
    }


def decoding_info(task: tasks.Task, has_decoder: bool, beam_width: int) -> dict:
    """model_info.json's decoding {"method", "beam_width"}: the task's decoding, "top_k" without decoder."""
    return {"method": task.decoding if has_decoder else "top_k",
            "beam_width": beam_width if task.decoding == "beam_search" else 1}


def _model_info(trained: inference.TrainedModel, functions: ServingFunctions, model_dir: str,
                beam_width: int) -> dict:
    vocabularies = trained.vocabularies
    config = trained.config
    annotator = functions.annotator
    return {
        "task": trained.task,
        "variant": config.variant,
        "backbone": config.backbone,
        "image_size": config.resolved_image_size,
        "pixel_scaling": config.preprocessing_mode,
        "uses_tags": functions.uses_tags,
        "decoding": {
            **decoding_info(trained.task_spec, config.has_decoder, beam_width),
            "max_length": annotator.max_length,
            "length_normalization": annotator.length_normalization,
        },
        "vocabulary_sizes": {name: len(getattr(vocabularies, name)) for name in ("words", "concepts", "labels", "tags")},
        "vocabulary_fingerprints": vocabularies.fingerprints(),
        "signatures": signature_docs(functions, beam_width, annotator.max_length),
        "source": {"model_dir": os.path.abspath(model_dir), "checkpoints": trained.checkpoints},
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
    }


def _write_json(path: str, payload: dict) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=1, sort_keys=True)
        handle.write("\n")


def _write_archive(functions: ServingFunctions, path: str) -> None:
    archive = keras.export.ExportArchive()
    # No archive.track(model): the endpoints capture every variable they use, and track() would
    # store each weight a second time (as its keras.Variable wrapper), doubling the export's size
    # and its memory in TF Serving (keras-team/keras#23553, open in Keras 3.15).
    for name, (function, signature) in functions.input_signatures().items():
        archive.add_endpoint(name, function, input_signature=signature)
    archive.write_out(path, verbose=False)


def check_export_dir(model_dir: str, export_dir: str, overwrite: bool) -> None:
    """`output_guard.check_output_dir` for an export: never the model dir, only ever replaces an export.

    Raises:
      ExportDirExistsError: naming the path and what it is.
    """
    try:
        output_guard.check_output_dir(export_dir, [("--model_dir", model_dir)], output_guard.EXPORT_DIR, overwrite)
    except output_guard.UnsafeOutputError as error:
        raise ExportDirExistsError(str(error)) from None


def _move_into_place(staging_dir: str, model_dir: str, export_dir: str, overwrite: bool) -> None:
    """Renames the finished export to `export_dir` (replacing an old export only with `overwrite`)."""
    check_export_dir(model_dir, export_dir, overwrite)  # again: the dir may have appeared meanwhile
    if not os.path.exists(export_dir):
        os.replace(staging_dir, export_dir)
        return
    atomic_files.publish_dir(staging_dir, export_dir)


def export_saved_model(model_dir: str, export_dir: str, beam_width: int = 3, max_length: int | None = None,
                       overwrite: bool = False, checkpoint: str = "best") -> dict:
    """Exports the weights of a model dir (its best checkpoint by default) as a serving SavedModel.

    Args:
      model_dir: a trained model dir (model_config.json, vocab/, checkpoints).
      export_dir: where the SavedModel goes; must not exist unless `overwrite`.
      beam_width: captions: beam width (SPEC I2: 3).
      max_length: most tokens decoded; None -> 20 for captions, the number of labels for
        multi-label.
      overwrite: replace an existing `export_dir`.
      checkpoint: "best" | "latest" | a step (see `inference.load_trained_model`).

    Returns:
      The model_info dict written to `export_dir/assets.extra/model_info.json`, plus
      "export_dir" and "export_seconds".

    Raises:
      ExportDirExistsError: `export_dir` is, contains or lies inside `model_dir`; it exists and is
        not an export; or it is an export and not `overwrite`.
      FileNotFoundError: `model_dir` holds no trained model or misses a checkpoint.
      ValueError: beam_width or max_length < 1.
    """
    started = time.monotonic()
    if beam_width < 1 or (max_length is not None and max_length < 1):
        raise ValueError(f"beam_width ({beam_width}) and max_length ({max_length}) must be >= 1")
    export_dir = os.path.abspath(export_dir)
    check_export_dir(model_dir, export_dir, overwrite)
    trained = inference.load_trained_model(model_dir, checkpoint)
    functions = ServingFunctions(inference.Annotator(trained, beam_width=beam_width, max_length=max_length))
    parent = os.path.dirname(export_dir)
    os.makedirs(parent, exist_ok=True)
    # Not mkdtemp: its 0700 mode would stay on the final dir; makedirs honours the umask.
    staging_dir = os.path.join(parent, f".{os.path.basename(export_dir)}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.makedirs(staging_dir)
    try:
        _write_archive(functions, staging_dir)
        extra_dir = os.path.join(staging_dir, EXTRA_DIR)
        os.makedirs(extra_dir, exist_ok=True)
        info = _model_info(trained, functions, model_dir, beam_width)
        _write_json(os.path.join(extra_dir, MODEL_INFO_FILE), info)
        _write_json(os.path.join(extra_dir, model_dir_lib.CONFIG_FILE), model_dir_lib.load_config(model_dir))
        trained.vocabularies.save(extra_dir)
        _move_into_place(staging_dir, model_dir, export_dir, overwrite)
    except BaseException:
        shutil.rmtree(staging_dir, ignore_errors=True)
        raise
    return {**info, "export_dir": export_dir, "export_seconds": round(time.monotonic() - started, 2)}
