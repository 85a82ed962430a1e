"""`build_model(config) -> SCnnRnnModel`: one builder for every variant of `config.py`'s table.

`SCnnRnnModel` holds two sub-modules that train separately and then together (Fig. 2):
  * `concept_cnn` (`ConceptCNN`: "backbone", "concept_layer", "tag_mlp") -- stage 1, `L_u`;
  * `decoder` (`CaptionDecoder`: "bridge", "word_embedding", "lstm_cell", "word_logits") -- stage 2,
    fed ground-truth concepts (`relational_model_logits`, T5); None for cnn_logistic.
Stage 3 (joint) restores both halves by sub-module: `tf.train.Checkpoint(**model.cnn_checkpoint_items())`
and `tf.train.Checkpoint(**model.decoder_checkpoint_items())` name the same objects in every model
built from the same config, so checkpoints written by one stage restore into the next.
"""

from typing import Optional

import keras

from s_cnn_rnn.models import concept_cnn as concept_cnn_lib
from s_cnn_rnn.models import config as config_lib
from s_cnn_rnn.models import decoder as decoder_lib


class SCnnRnnModel(keras.Model):
    """The whole CNN-RNN (or the CNN alone for cnn_logistic).

    Attributes:
      config: the `ModelConfig` it was built from.
      concept_cnn: the unary model (`ConceptCNN`).
      decoder: the relational model (`CaptionDecoder`) or None.
    """

    def __init__(self, config: config_lib.ModelConfig, concept_cnn: concept_cnn_lib.ConceptCNN,
                 decoder: Optional[decoder_lib.CaptionDecoder], **kwargs):
        kwargs.setdefault("name", config.variant)
        super().__init__(**kwargs)
        self.config = config
        self.concept_cnn = concept_cnn
        self.decoder = decoder

    # ------------------------------------------------------------------------------- forward
    def call(self, batch: dict, training=False) -> dict:
        """Runs the CNN and, when the batch has "input_ids", the teacher-forced decoder.

        Args:
          batch: "image" `[B, S, S, 3]` float32 (preprocessed), "tags" `[B, num_tags]` (used only with
            `use_tags`), "input_ids" `[B, T]` int32 (optional). Other keys are ignored.
          training: dropout and BatchNorm in training mode.

        Returns:
          dict: "features" `[B, F]`; "concept_logits", "concept_probs" `[B, k]` float32 (also
          "image_concept_logits", and "tag_concept_logits" with tags) when the variant has a
          concept layer; "image_embedding" `[B, D]` and "sequence_logits" `[B, T, V]` float32 when
          it has a decoder and the batch has "input_ids".
        """
        outputs = self._run_cnn(batch["image"], batch.get("tags"), training)
        if self.decoder is not None and "input_ids" in batch:
            embedding = self._select_embedding(outputs)
            outputs["image_embedding"] = embedding
            outputs["sequence_logits"] = self.decoder(embedding, batch["input_ids"], training=training)
        return outputs

    def image_embedding(self, images, tags=None, training=False):
        """`I_e [B, D]`: concept probabilities `ŝ` (s_cnn_rnn, M1) or pooled features (nic_f,
        nic_deeply, ria).

        Args:
          images: `[B, S, S, 3]` float32, preprocessed.
          tags: `[B, num_tags]` float multi-hot; required with `use_tags`.
        """
        self._require_decoder("image_embedding")
        return self._select_embedding(self._run_cnn(images, tags, training))

    def decoder_initial_state(self, embedding, training=False):
        """`(h, c)`, each `[B, lstm_units]`, from an image embedding `[B, D]`."""
        self._require_decoder("decoder_initial_state")
        return self.decoder.initial_state(embedding, training=training)

    def step(self, token_ids, state, training=False):
        """The decoding `step_fn`: `token_ids [N] int32, (h, c) -> (logits [N, V] float32, (h, c))`."""
        self._require_decoder("step")
        return self.decoder.step(token_ids, state, training=training)

    def relational_model_logits(self, concepts, input_ids, training=False):
        """Stage 2 (T5): the decoder fed ground-truth concepts `s` instead of `ŝ`.

        Args:
          concepts: `[B, k]` float32 multi-hot (the batch's "concepts").
          input_ids: `[B, T]` int32.

        Returns:
          logits `[B, T, V]` float32. The CNN is not run.

        Raises:
          ValueError: the variant's bridge does not read concepts (nic_f, nic_deeply, ria,
            cnn_logistic): it has no separate relational model to pretrain.
        """
        if self.config.bridge_input != "concepts":
            raise ValueError(
                f"variant {self.config.variant!r} feeds the decoder {self.config.bridge_input or 'nothing'}"
                ", not concepts: it has no relational model to pretrain on ground-truth concepts "
                "(stage 2 applies to s_cnn_rnn only)")
        return self.decoder(concepts, input_ids, training=training)

    # ------------------------------------------------------------------------------- checkpoints
    def checkpoint_items(self) -> dict:
        """Every sub-module (`cnn_checkpoint_items` | `decoder_checkpoint_items`), for a stage's own
        checkpoint; the next stage reads the half it needs under the same keys."""
        return {**self.cnn_checkpoint_items(), **self.decoder_checkpoint_items()}

    def cnn_checkpoint_items(self) -> dict:
        """Trackables of the unary model (backbone, concept layer, tag MLP) for `tf.train.Checkpoint`."""
        return {"concept_cnn": self.concept_cnn}

    def tag_mlp_checkpoint_items(self) -> dict:
        """The tag MLP alone (its M8 pretraining hands over to stage 1); empty without tags."""
        tag_mlp = self.concept_cnn.tag_mlp
        return {"tag_mlp": tag_mlp} if tag_mlp is not None else {}

    def decoder_checkpoint_items(self) -> dict:
        """Trackables of the relational model (bridge, embedding, LSTM, logits); empty for V5."""
        return {"decoder": self.decoder} if self.decoder is not None else {}

    # ------------------------------------------------------------------------------- building
    def build_all(self) -> None:
        """Creates every variable by running a one-image dummy batch (so checkpoints restore eagerly)."""
        size = self.config.resolved_image_size
        batch = {"image": keras.ops.zeros((1, size, size, 3), dtype="float32")}
        if self.config.use_tags:
            batch["tags"] = keras.ops.zeros((1, self.config.num_tags), dtype="float32")
        if self.decoder is not None:
            batch["input_ids"] = keras.ops.zeros((1, 1), dtype="int32")
        self(batch, training=False)
        if self.decoder is not None:
            # The bare cell and the RNN wrapper share the weights; calling both builds both paths.
            self.step(batch["input_ids"][:, 0],
                      self.decoder_initial_state(self.image_embedding(batch["image"], batch.get("tags"))))

    def get_config(self) -> dict:
        return {"name": self.name, "model_config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config: dict) -> "SCnnRnnModel":
        return build_model(config_lib.ModelConfig.from_dict(config["model_config"]))

    # ------------------------------------------------------------------------------- helpers
    def _run_cnn(self, images, tags, training) -> dict:
        return self.concept_cnn(images, tags if self.config.use_tags else None, training=training)

    def _select_embedding(self, cnn_outputs: dict):
        key = "concept_probs" if self.config.bridge_input == "concepts" else "features"
        return cnn_outputs[key]

    def _require_decoder(self, method: str) -> None:
        if self.decoder is None:
            raise ValueError(f"{method}: variant {self.config.variant!r} has no decoder")


def build_model(config: config_lib.ModelConfig) -> SCnnRnnModel:
    """Builds (and creates every variable of) the model `config` describes.

    Raises:
      ModelConfigError: the config is invalid or its data sizes are missing (`validate_sizes`).
      backbones.BackboneWeightsError: ImageNet download failed / weights file missing or mismatched.
    """
    config.validate()
    config.validate_sizes()
    concept_cnn = concept_cnn_lib.build_concept_cnn(config)
    decoder = None
    if config.has_decoder:
        decoder = decoder_lib.CaptionDecoder(
            vocab_size=config.vocab_size, embedding_dim=config.embedding_dim,
            lstm_units=config.lstm_units, lstm_activation=config.lstm_activation,
            bridge_mode=config.bridge_mode, dropout=config.dropout, name="decoder")
    model = SCnnRnnModel(config, concept_cnn, decoder)
    model.build_all()
    return model
