"""Image files -> labels or captions with a trained model dir (the library behind s-cnn-rnn-predict).

Each file is decoded and preprocessed on its own (`image_input`, the same code the exported
SavedModel runs), so an unreadable file becomes an error entry and the others still go
through; the readable ones are then annotated in batches by one traced `Annotator` call and
decoded with evaluation's own `inference.label_lists` / `inference.caption_lists`.
"""

import dataclasses
import json
import os
import re

import numpy as np
import tensorflow as tf

from s_cnn_rnn import inference
from s_cnn_rnn.serving import image_input
from s_cnn_rnn.serving import outputs as outputs_lib


@dataclasses.dataclass
class Prediction:
    """What the model says about one image file (or why it could not say anything).

    Attributes:
      path: the file, as given.
      labels: multi-label: [(label, probability)] in emitted order (a model without decoder:
        its top-3 concepts, most probable first); None for captions.
      captions: captions: [(caption, log-probability)] best first; None for multi-label.
      concepts: [(concept, probability)], the concept layer's top 3 (None without one).
      error: why the file was skipped (then every other field is None).
    """

    path: str
    labels: list | None = None
    captions: list | None = None
    concepts: list | None = None
    error: str | None = None

    def to_json(self) -> dict:
        """A JSON-able dict: {"image", then "labels" | "captions" [, "concepts"] | "error"}."""
        entry = {"image": self.path}
        if self.error is not None:
            entry["error"] = self.error
            return entry
        if self.labels is not None:
            entry["labels"] = [{"label": label, "probability": round(p, 6)} for label, p in self.labels]
        if self.captions is not None:
            entry["captions"] = [{"caption": text, "log_prob": round(lp, 6)} for text, lp in self.captions]
        if self.concepts is not None:
            entry["concepts"] = [{"concept": concept, "probability": round(p, 6)} for concept, p in self.concepts]
        return entry

    def to_text(self) -> str:
        """`PATH` then one indented `score  text` line per label or caption."""
        lines = [self.path]
        if self.labels is not None:
            lines += [f"  {p:.4f}  {label}" for label, p in self.labels] or ["  (no label)"]
        if self.captions is not None:
            lines += [f"  {lp:9.4f}  {text}" for text, lp in self.captions] or ["  (no caption)"]
        if self.labels is None and self.captions is None and self.concepts is not None:
            lines += [f"  {p:.4f}  {concept}" for concept, p in self.concepts]
        return "\n".join(lines)


def _caption_entries(raw: dict, trained: inference.TrainedModel, per_image: list[dict]) -> None:
    if trained.config.has_decoder:
        for entry, captions in zip(per_image, inference.caption_lists(raw, trained.vocabularies)):
            entry["captions"] = captions


def _label_entries(raw: dict, trained: inference.TrainedModel, per_image: list[dict]) -> None:
    if trained.config.has_decoder:
        decoded = inference.label_lists(raw, trained.vocabularies)
    else:  # fixed-length model (SPEC I3): its top-3 concepts are its labels
        decoded = [entry["concepts"] for entry in per_image]
    for entry, labels in zip(per_image, decoded):
        entry["labels"] = labels


# Task name -> (NumPy Annotator outputs, trained model, per-image dicts) -> sets each image's
# "captions" or "labels".
PREDICTION_ENTRIES = {"caption": _caption_entries, "multilabel": _label_entries}


def _clean_tf_message(message: str) -> str:
    """A TF op error's message without the graph-node decorations."""
    message = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", message)
    message = re.sub(r"\s*\[\[[^\]]*\]\]", "", message)
    message = re.sub(r"\s*\[Op:[^\]]*\]( name: \S*)?", "", message)
    return " ".join(message.split())


class Predictor:
    """A restored model, ready to annotate image files.

    Args:
      model_dir: a trained model dir.
      beam_width: captions: beam width (SPEC I2: 3).
      max_length: most tokens decoded (None: the Annotator's default).
      batch_size: images per model call.
      checkpoint: "best" | "latest" | a step (see `inference.load_trained_model`).
      label_decoding: multi-label greedy decoding, "no_repeat" or "plain" (`DecodeOptions.label_decoding`).
    """

    def __init__(self, model_dir: str, beam_width: int = 3, max_length: int | None = None, batch_size: int = 16,
                 checkpoint: str = "best", label_decoding: str = "no_repeat"):
        if batch_size < 1 or beam_width < 1:
            raise ValueError(f"batch_size ({batch_size}) and beam_width ({beam_width}) must be >= 1")
        self.trained = inference.load_trained_model(model_dir, checkpoint)
        self.annotator = inference.Annotator(self.trained, beam_width=beam_width, max_length=max_length,
                                             label_decoding=label_decoding)
        self.batch_size = batch_size
        config = self.trained.config
        self.image_size, self.mode = image_input.model_image_settings(config)
        self.tag_vocabulary = self.trained.vocabularies.tags
        image_spec = tf.TensorSpec([], tf.string)
        self._preprocess = tf.function(
            lambda encoded: image_input.decode_and_preprocess_image(encoded, self.image_size, self.mode),
            input_signature=[image_spec], autograph=False,
        )
        images_spec = tf.TensorSpec([None, self.image_size, self.image_size, 3], tf.float32)
        if config.use_tags:
            tags_spec = tf.TensorSpec([None, config.num_tags], tf.float32)
            self._annotate = tf.function(lambda images, tags: self.annotator(images, tags),
                                         input_signature=[images_spec, tags_spec], autograph=False)
        else:
            self._annotate = tf.function(lambda images: self.annotator(images), input_signature=[images_spec],
                                         autograph=False)

    @property
    def uses_tags(self) -> bool:
        return bool(self.trained.config.use_tags)

    def read_image(self, path: str) -> np.ndarray:
        """One file -> float32 `[S, S, 3]` model input.

        Raises:
          ValueError: the file is missing or not a readable image (the message says why).
        """
        try:
            with open(path, "rb") as handle:
                encoded = handle.read()
        except OSError as error:
            raise ValueError(f"not a readable image ({error.strerror or error})") from error
        try:
            return self._preprocess(tf.constant(encoded)).numpy()
        except tf.errors.InvalidArgumentError as error:
            raise ValueError(f"not a readable image ({_clean_tf_message(error.message)})") from error

    def tags_for(self, tags: list[str] | None) -> np.ndarray:
        """Tag strings -> float32 `[num_tags]` multi-hot (tags not in tags.txt are ignored)."""
        row = np.zeros([len(self.tag_vocabulary)], np.float32)
        for tag in tags or ():
            if tag in self.tag_vocabulary:
                row[self.tag_vocabulary.id_of(tag)] = 1.0
        return row

    def untagged(self, paths: list[str], tags_by_path: dict | None) -> list[str]:
        """The paths that `tags_by_path` gives no tag of tags.txt (none listed, or only unknown ones).

        A tag model fed no tags sees an all-zero tag input and labels much worse, so the caller
        refuses such images unless the user asks for it.
        """
        return [path for path in paths
                if not any(tag in self.tag_vocabulary for tag in _lookup_tags(tags_by_path, path) or ())]

    def _decode(self, raw: dict) -> list[dict]:
        """Annotator outputs (NumPy) for a batch -> per image {labels|captions, concepts}."""
        trained = self.trained
        count = len(next(iter(raw.values())))
        per_image = [{} for _ in range(count)]
        if "top_k_indices" in raw:
            tokens = outputs_lib.concept_vocabulary(trained)
            for entry, indices, probs in zip(per_image, raw["top_k_indices"], raw["top_k_probs"]):
                entry["concepts"] = [(tokens[int(i)], float(p)) for i, p in zip(indices, probs)]
        PREDICTION_ENTRIES[trained.task](raw, trained, per_image)  # "labels" or "captions"
        return per_image

    def annotate_arrays(self, images: np.ndarray, tags: np.ndarray | None = None) -> list[dict]:
        """Preprocessed images `[B, S, S, 3]` (+ tags `[B, num_tags]`) -> per image dicts."""
        if self.uses_tags:
            if tags is None:
                tags = np.zeros([len(images), len(self.tag_vocabulary)], np.float32)
            raw = self._annotate(tf.constant(images), tf.constant(tags))
        else:
            raw = self._annotate(tf.constant(images))
        return self._decode({key: value.numpy() for key, value in raw.items()})

    def predict_files(self, paths: list[str], tags_by_path: dict | None = None) -> list[Prediction]:
        """Annotates image files, in the given order; unreadable ones get `error` set.

        Args:
          paths: image files (JPEG, PNG, GIF, BMP, WebP).
          tags_by_path: use_tags models: {path or file name: [tag, ...]}; images without an
            entry are annotated with no tags.
        """
        predictions = [Prediction(path) for path in paths]
        readable = []  # (prediction, image [S, S, 3])
        for prediction in predictions:
            try:
                readable.append((prediction, self.read_image(prediction.path)))
            except ValueError as error:
                prediction.error = str(error)
        for start in range(0, len(readable), self.batch_size):
            chunk = readable[start:start + self.batch_size]
            images = np.stack([image for _, image in chunk])
            tags = None
            if self.uses_tags:
                tags = np.stack([self.tags_for(_lookup_tags(tags_by_path, p.path)) for p, _ in chunk])
            for (prediction, _), result in zip(chunk, self.annotate_arrays(images, tags)):
                prediction.labels = result.get("labels")
                prediction.captions = result.get("captions")
                prediction.concepts = result.get("concepts")
        return predictions


def _lookup_tags(tags_by_path: dict | None, path: str):
    if not tags_by_path:
        return None
    if path in tags_by_path:
        return tags_by_path[path]
    return tags_by_path.get(os.path.basename(path))


def load_tags_file(path: str) -> dict:
    """Reads a `{image path or file name: [tag, ...]}` JSON file.

    Raises:
      ValueError: the file is not such a JSON object (the message names the file).
    """
    try:
        with open(path, encoding="utf-8") as handle:
            tags = json.load(handle)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read the tags file {path}: {error}") from error
    if not isinstance(tags, dict) or not all(
            isinstance(value, list) and all(isinstance(tag, str) for tag in value) for value in tags.values()):
        raise ValueError(f"{path} must hold a JSON object {{image path or file name: [tag, ...]}}")
    return tags
