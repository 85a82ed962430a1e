"""Helpers for the export / predict tests: untrained model dirs and image files from records."""

import dataclasses
import io
import os

import numpy as np
import tensorflow as tf
from PIL import Image

from s_cnn_rnn import record_schema
from s_cnn_rnn import image_preprocessing
from s_cnn_rnn import inference
from s_cnn_rnn import input_pipeline
from s_cnn_rnn.models import builder
from s_cnn_rnn.models.config import ModelConfig
from s_cnn_rnn import model_dir as model_dir_lib


def make_model_dir(data_dir: str, model_dir: str, task: str, **model_fields) -> str:
    """Writes a model dir `load_trained_model` reads: config, vocabularies, a joint checkpoint.

    The weights are the random initial ones (seeded), which is all the export tests need:
    they compare the exported graph with the in-process one, not with the truth.

    Args:
      data_dir: a converted data dir (its vocabularies fix the sizes).
      model_dir: the new model dir.
      task: "caption" or "multilabel".
      **model_fields: ModelConfig overrides (e.g. use_tags=True, variant="cnn_logistic").
    """
    info = input_pipeline.dataset_info(data_dir)
    if task == "caption":
        sizes = dict(num_concepts=info["num_concepts"], vocab_size=info["vocab_size"])
    else:
        sizes = dict(num_concepts=info["num_labels"], vocab_size=info["num_label_tokens"])
    fields = dict(variant="s_cnn_rnn", backbone="small_cnn", backbone_weights="none", image_size=32,
                  embedding_dim=16, lstm_units=16, small_cnn_width=8, num_tags=info["num_tags"],
                  tag_hidden_units=8, lstm_activation="relu" if task == "multilabel" else "tanh")
    fields.update(sizes)
    fields.update(model_fields)
    config = ModelConfig(**fields)
    keras_seed = 7
    tf.keras.utils.set_random_seed(keras_seed)
    model = builder.build_model(dataclasses.replace(config))
    os.makedirs(model_dir, exist_ok=True)
    model_dir_lib.save_config(model_dir, {**config.to_dict(), "task": task})
    model_dir_lib.bind_vocabularies(model_dir, data_dir)
    tf.train.Checkpoint(**model.checkpoint_items()).save(os.path.join(model_dir, "joint", "checkpoints", "ckpt"))
    return model_dir


def record_images(data_dir: str, split: str = "test", count: int = 3) -> list[dict]:
    """The first `count` records of a split: {"jpeg": bytes, "tag_indices": [...], "serialized": bytes}."""
    path = os.path.join(data_dir, f"{split}-00000-of-00001.tfrecord")
    results = []
    for serialized in tf.data.TFRecordDataset(path).take(count):
        example = tf.train.Example.FromString(serialized.numpy())
        feature = example.features.feature
        results.append({
            "jpeg": feature[record_schema.IMAGE_ENCODED].bytes_list.value[0],
            "tag_indices": list(feature[record_schema.TAG_INDICES].int64_list.value),
            "serialized": serialized.numpy(),
        })
    return results


def png_bytes(jpeg: bytes, size=(48, 40)) -> bytes:
    """A non-square PNG made from a JPEG (so the central crop matters)."""
    image = Image.open(io.BytesIO(jpeg)).convert("RGB").resize(size)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def tags_multi_hot(tag_indices: list[list[int]], num_tags: int) -> np.ndarray:
    """float32 `[B, num_tags]` multi-hot rows."""
    rows = np.zeros([len(tag_indices), num_tags], np.float32)
    for row, indices in zip(rows, tag_indices):
        row[indices] = 1.0
    return rows


def evaluation_view(encoded: bytes, config) -> tf.Tensor:
    """What evaluation feeds the model: its own JPEG path, or the same view of a decoded PNG."""
    size = config.resolved_image_size
    if encoded.startswith(b"\xff\xd8\xff"):
        return image_preprocessing.decode_and_preprocess(encoded, size, config.preprocessing_mode)
    return image_preprocessing.preprocess(tf.io.decode_png(encoded, channels=3), size, config.preprocessing_mode)


def annotator_reference(model_dir: str, image_paths: list[str], tags=None, beam_width: int = 3):
    """The in-process Annotator's outputs (NumPy) for image files, and the restored model.

    Returns:
      (outputs dict, `inference.TrainedModel`).
    """
    trained = inference.load_trained_model(model_dir)
    annotator = inference.Annotator(trained, beam_width=beam_width)
    images = []
    for path in image_paths:
        with open(path, "rb") as handle:
            images.append(evaluation_view(handle.read(), trained.config))
    raw = annotator(tf.stack(images), tags=None if tags is None else tf.constant(tags))
    return {key: value.numpy() for key, value in raw.items()}, trained
