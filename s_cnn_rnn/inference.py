"""A trained model directory -> a model with its weights, and batched in-graph annotation.

Shared by `s-cnn-rnn-evaluate`, `s-cnn-rnn-predict` and `s-cnn-rnn-export`: everything
here is pure TF on preprocessed image batches, so the same `Annotator` runs eagerly, in a
tf.function, and inside the exported SavedModel.
"""

import dataclasses
import os

import tensorflow as tf

from s_cnn_rnn import decoding
from s_cnn_rnn import features
from s_cnn_rnn.models import builder
from s_cnn_rnn.models.config import ModelConfig
from s_cnn_rnn.training import model_store
from s_cnn_rnn.vocabulary import Vocabularies

TASKS = ("caption", "multilabel")


@dataclasses.dataclass
class TrainedModel:
    """A model restored from a model dir.

    Attributes:
      model: the `SCnnRnnModel` with restored weights.
      config: its `ModelConfig`.
      task: "caption" or "multilabel".
      vocabularies: the vocabularies it was trained with.
      checkpoints: {part: checkpoint path} restored ("all" for a joint checkpoint).
    """

    model: builder.SCnnRnnModel
    config: ModelConfig
    task: str
    vocabularies: Vocabularies
    checkpoints: dict

    @property
    def output_vocabulary(self):
        """The decoder's token vocabulary: words, or `<pad> <start> <end>` + labels."""
        if self.task == "caption":
            return self.vocabularies.words
        return self.vocabularies.label_sequence_vocabulary()


def _latest(model_dir: str, stage: str) -> str | None:
    return tf.train.latest_checkpoint(os.path.join(model_dir, stage, "checkpoints"))


def load_trained_model(model_dir: str) -> TrainedModel:
    """Rebuilds the model of a model dir and restores its newest complete weights.

    The joint checkpoint when there is one; otherwise the CNN from the cnn stage and the
    decoder from the rnn stage (a model that was pretrained but not fine-tuned).

    Raises:
      FileNotFoundError: no model_config.json, or no checkpoint for a part of the model.
    """
    saved = model_store.load_config(model_dir)
    task = saved.pop("task")
    # The weights come from the checkpoint: never download ImageNet weights to overwrite them.
    config = dataclasses.replace(ModelConfig.from_dict(saved), backbone_weights="none")
    model = builder.build_model(config)
    restored = {}
    joint = _latest(model_dir, "joint")
    if joint:
        tf.train.Checkpoint(**model.checkpoint_items()).read(joint).expect_partial().assert_existing_objects_matched()
        restored["all"] = joint
    else:
        variant_stages = config.variant_record.stages
        # The feature variants' decoder stage holds their decoder (and the CNN it was trained on).
        parts = [("cnn" if "cnn" in variant_stages else "decoder", model.cnn_checkpoint_items())]
        if config.has_decoder:
            parts.append(("rnn" if "rnn" in variant_stages else "decoder", model.decoder_checkpoint_items()))
        for stage, items in parts:
            path = _latest(model_dir, stage) if stage in variant_stages else None
            if path is None:
                raise FileNotFoundError(
                    f"{model_dir} has no checkpoint for the {'CNN' if stage == 'cnn' else 'decoder'} "
                    f"(looked in {stage}/ and joint/): train it with s-cnn-rnn-train --stage=all first."
                )
            tf.train.Checkpoint(**items).read(path).expect_partial().assert_existing_objects_matched()
            restored[stage] = path
    return TrainedModel(model, config, task, model_store.load_vocabularies(model_dir), restored)


class Annotator(tf.Module):
    """Images -> concept probabilities and decoded labels or captions, batched and in-graph.

    Args:
      trained: the restored model.
      beam_width: captions: beam width (I2: 3).
      max_length: most tokens decoded; default 20 for captions, the number of labels for
        multi-label (a label is never emitted twice).
      length_normalization: captions: alpha of score / length**alpha (0 = off, as the paper).
      top_k: fixed-length outputs (I3): how many of the best concepts to report too.
    """

    def __init__(self, trained: TrainedModel, beam_width: int = 3, max_length: int | None = None,
                 length_normalization: float = 0.0, top_k: int = 3):
        super().__init__(name="annotator")
        self.trained = trained
        self.model = trained.model
        self.beam_width = beam_width
        num_labels = len(trained.vocabularies.labels)
        self.max_length = max_length or (20 if trained.task == "caption" else max(num_labels, 1))
        self.length_normalization = length_normalization
        self.top_k = min(top_k, trained.config.num_concepts)

    def __call__(self, images, tags=None) -> dict:
        """Annotates a batch.

        Args:
          images: float32 `[B, S, S, 3]`, preprocessed for the backbone.
          tags: float32 `[B, num_tags]` multi-hot, required when the model uses tags.

        Returns:
          "concept_probs" `[B, k]` and "top_k_indices"/"top_k_probs" `[B, top_k]` where the
          model has a concept layer; multi-label: "token_ids" `[B, T]` (label index + 3, END
          included), "lengths" `[B]` and "token_probs" `[B, T]`; captions: "token_ids"
          `[B, beam, T]` (END excluded), "lengths" `[B, beam]`, "log_probs" `[B, beam]`.
        """
        config = self.model.config
        cnn = self.model.unary(images, tags if config.use_tags else None, training=False)
        outputs = {}
        if "concept_probs" in cnn and cnn["concept_probs"] is not None:
            outputs["concept_probs"] = cnn["concept_probs"]
            top = tf.math.top_k(cnn["concept_probs"], k=self.top_k)
            outputs["top_k_indices"], outputs["top_k_probs"] = top.indices, top.values
        if not config.has_decoder:
            return outputs
        embedding = cnn["concept_probs"] if config.bridge_input == "concepts" else cnn["features"]
        initial_state = tuple(self.model.decoder_initial_state(embedding, training=False))
        banned = (features.PAD_ID, features.START_ID)
        if self.trained.task == "multilabel":
            result = decoding.greedy_decode(
                self.model.step, initial_state, features.START_ID, features.END_ID, self.max_length,
                banned_ids=banned, no_repeat=True,
            )
            outputs.update(token_ids=result.token_ids, lengths=result.lengths, token_probs=result.token_probs)
        else:
            result = decoding.beam_search(
                self.model.step, initial_state, features.START_ID, features.END_ID,
                beam_width=self.beam_width, max_length=self.max_length,
                length_normalization=self.length_normalization, banned_ids=banned,
            )
            outputs.update(token_ids=result.token_ids, lengths=result.lengths, log_probs=result.log_probs)
        return outputs


def label_lists(outputs: dict, vocabularies: Vocabularies) -> list[list[tuple[str, float]]]:
    """Decoded multi-label outputs (NumPy) -> per image [(label, probability), ...] in emitted order."""
    offset = len(features.LABEL_SPECIALS)
    results = []
    for ids, length, probs in zip(outputs["token_ids"], outputs["lengths"], outputs["token_probs"]):
        results.append(
            [(vocabularies.labels.token_of(int(t) - offset), float(p)) for t, p in zip(ids[:length], probs[:length])]
        )
    return results


def caption_lists(outputs: dict, vocabularies: Vocabularies) -> list[list[tuple[str, float]]]:
    """Decoded beams (NumPy) -> per image [(caption, log_prob), ...] best first (empty beams dropped)."""
    results = []
    for beams, lengths, log_probs in zip(outputs["token_ids"], outputs["lengths"], outputs["log_probs"]):
        captions = []
        for ids, length, log_prob in zip(beams, lengths, log_probs):
            if length > 0 or log_prob > -1e30:
                words = vocabularies.words.decode([int(t) for t in ids[:length]])
                captions.append((" ".join(words), float(log_prob)))
        results.append(captions)
    return results
