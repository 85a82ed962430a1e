"""`build_model(config) -> SCnnRnnModel`: one builder for every variant record of `variants.py`.

The models are functional Keras graphs (`keras.Model(inputs, outputs)`) over ONE set of layer
instances, so every stage trains the graph it needs and decoding uses exactly the same weights:

| graph (attribute)         | inputs -> outputs                                          | used by        |
|---------------------------|------------------------------------------------------------|----------------|
| `unary_model`             | image [+ tags] -> features, concept logits / probabilities | stage 1 (L_u)  |
| `initial_state_model`     | I_e [B, D] -> h0, c0 (the bridge)                          | decoding       |
| `step_model`              | token_ids [N], h, c -> logits [N, V], h, c                 | decoding       |
| `teacher_forcing_model`   | I_e [B, D], input_ids [B, T] -> logits [B, T, V]           | stage 2 (L_r)  |
| `full_model`              | image [+ tags], input_ids -> all of the above              | joint stage    |

`full_model` calls `unary_model` and `teacher_forcing_model`, which calls `initial_state_model`;
`step_model` and `teacher_forcing_model` share the embedding, the LSTM cell and the logits layer.
cnn_logistic has only `unary_model` (the others are None). `summary()` prints them all.

`SCnnRnnModel` itself is a plain container: the graphs, the layers of each part (`concept_cnn`:
`concept_cnn.ConceptCNN`, `decoder`: `decoder.CaptionDecoder` or None) and the methods the rest of
the code calls. Checkpoints name the layers through explicit layouts (`layout.py`): the stages'
`tf.train.Checkpoint(**model.checkpoint_items())` has the keys "concept_cnn" and "decoder", and
each half restores alone into the next stage (`cnn_checkpoint_items`, `decoder_checkpoint_items`).
The layer names in those layouts are those of the earlier layer-subclass models, so their
checkpoints (and optimizer slots) restore unchanged.
"""

from typing import Optional

import keras

from s_cnn_rnn.models import concept_cnn as concept_cnn_lib
from s_cnn_rnn.models import config as config_lib
from s_cnn_rnn.models import decoder as decoder_lib
from s_cnn_rnn.models import tag_mlp as tag_mlp_lib


class SCnnRnnModel:
    """The whole CNN-RNN (or the CNN alone for cnn_logistic): its graphs and its layers.

    Attributes:
      config: the `ModelConfig` it was built from.
      concept_cnn: the unary model's layers (`ConceptCNN`).
      decoder: the relational model's layers (`CaptionDecoder`) or None.
      unary_model, initial_state_model, step_model, teacher_forcing_model, full_model: the
        functional graphs (module docstring); all but `unary_model` are None without a decoder.
    """

    def __init__(self, config: config_lib.ModelConfig, concept_cnn: concept_cnn_lib.ConceptCNN,
                 decoder: Optional[decoder_lib.CaptionDecoder]):
        self.config = config
        self.concept_cnn = concept_cnn
        self.decoder = decoder
        self.unary_model = concept_cnn_lib.build_unary_model(concept_cnn)
        self.initial_state_model = self.step_model = self.teacher_forcing_model = None
        self.full_model = self.unary_model
        if decoder is not None:
            width = concept_cnn.num_concepts if config.bridge_input == "concepts" else concept_cnn.feature_dim
            self.initial_state_model = decoder_lib.build_initial_state_model(decoder, width)
            self.step_model = decoder_lib.build_step_model(decoder)
            self.teacher_forcing_model = decoder_lib.build_teacher_forcing_model(decoder, self.initial_state_model)
            self.full_model = self._build_full_model()

    @property
    def name(self) -> str:
        return self.config.variant

    # ------------------------------------------------------------------------------- forward
    def __call__(self, batch: dict, training=False) -> dict:
        """Runs the unary model and, when the batch has "input_ids", the teacher-forced decoder.

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
        inputs = self._unary_inputs(batch["image"], batch.get("tags"))
        if self.decoder is not None and "input_ids" in batch:
            return self.full_model(dict(inputs, input_ids=batch["input_ids"]), training=training)
        return self.unary_model(inputs, training=training)

    def unary(self, images, tags=None, training=False) -> dict:
        """The unary model's outputs (see `__call__`) for `images [B, S, S, 3]` (+ `tags`)."""
        return self.unary_model(self._unary_inputs(images, tags), training=training)

    def image_embedding(self, images, tags=None, training=False):
        """`I_e [B, D]`: concept probabilities `ŝ` (s_cnn_rnn, M1) or pooled features (nic_f,
        nic_deeply, ria).

        Args:
          images: `[B, S, S, 3]` float32, preprocessed.
          tags: `[B, num_tags]` float multi-hot; required with `use_tags`.
        """
        self._require_decoder("image_embedding")
        return self.select_embedding(self.unary(images, tags, training))

    def select_embedding(self, unary_outputs: dict):
        """`I_e` out of the unary model's outputs: "concept_probs" or "features" by variant."""
        return unary_outputs["concept_probs" if self.config.bridge_input == "concepts" else "features"]

    def decoder_initial_state(self, embedding, training=False):
        """`(h, c)`, each `[B, lstm_units]`, from an image embedding `[B, D]`."""
        self._require_decoder("decoder_initial_state")
        hidden, cell = self.initial_state_model(embedding, training=training)
        return hidden, cell

    def step(self, token_ids, state, training=False):
        """The decoding `step_fn`: `token_ids [N] int32, (h, c) -> (logits [N, V] float32, (h, c))`."""
        self._require_decoder("step")
        logits, hidden, cell = self.step_model([token_ids, *state], training=training)
        return logits, (hidden, cell)

    def relational_model_logits(self, concepts, input_ids, training=False):
        """Stage 2 (T5): the teacher-forcing graph fed ground-truth concepts `s` instead of `ŝ`.

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
        return self.teacher_forcing_model([concepts, input_ids], training=training)

    # ------------------------------------------------------------------------------- variables
    @property
    def trainable_variables(self) -> list:
        """What the joint stage updates: the unary model's, then the decoder's (checkpoint order)."""
        return self.concept_cnn.trainable_variables + (
            self.decoder.trainable_variables if self.decoder is not None else [])

    @property
    def weights(self) -> list:
        return self.concept_cnn.weights + (self.decoder.weights if self.decoder is not None else [])

    def get_weights(self) -> list:
        """Every variable's value (NumPy), in `weights` order."""
        return [keras.ops.convert_to_numpy(variable) for variable in self.weights]

    def set_weights(self, values: list) -> None:
        for variable, value in zip(self.weights, values, strict=True):
            variable.assign(value)

    def count_params(self) -> int:
        """Scalars in every variable (BatchNorm statistics included), each shared weight once."""
        return sum(int(keras.ops.size(variable)) for variable in self.weights)

    # ------------------------------------------------------------------------------- checkpoints
    def checkpoint_items(self) -> dict:
        """Every part (`cnn_checkpoint_items` | `decoder_checkpoint_items`), for a stage's own
        checkpoint; the next stage reads the half it needs under the same keys."""
        return {**self.cnn_checkpoint_items(), **self.decoder_checkpoint_items()}

    def cnn_checkpoint_items(self) -> dict:
        """The unary model's layout (backbone, concept layer, tag MLP) for `tf.train.Checkpoint`."""
        return {"concept_cnn": self.concept_cnn.checkpoint_layout()}

    def tag_mlp_checkpoint_items(self) -> dict:
        """The tag MLP alone (its M8 pretraining hands over to stage 1); empty without tags."""
        tag_mlp = self.concept_cnn.tag_mlp
        return {"tag_mlp": tag_mlp_lib.checkpoint_layout(tag_mlp)} if tag_mlp is not None else {}

    def decoder_checkpoint_items(self) -> dict:
        """The relational model's layout (bridge, embedding, LSTM, logits); empty for V5."""
        return {"decoder": self.decoder.checkpoint_layout()} if self.decoder is not None else {}

    # ------------------------------------------------------------------------------- summary
    def graphs(self) -> dict:
        """The functional graphs by attribute name (None ones left out), whole model first."""
        graphs = {"full_model": self.full_model, "unary_model": self.unary_model,
                  "teacher_forcing_model": self.teacher_forcing_model,
                  "initial_state_model": self.initial_state_model, "step_model": self.step_model}
        return {name: graph for name, graph in graphs.items() if graph is not None
                and (name != "unary_model" or graph is not self.full_model)}

    def summary(self, line_length: int = 110) -> str:
        """`keras.Model.summary()` of every graph, as one text.

        Nested graphs show as one row each ("unary_model (Functional)"); each is then printed on
        its own, the backbone excepted (InceptionV3 alone has 300 layers).
        """
        lines = []
        for graph in self.graphs().values():
            graph.summary(line_length=line_length, print_fn=lambda line, **_: lines.append(line))
            lines.append("")
        return "\n".join(lines)

    # ------------------------------------------------------------------------------- helpers
    def _build_full_model(self) -> keras.Model:
        """The whole model: the unary graph, then teacher forcing on its `I_e`."""
        inputs = concept_cnn_lib.unary_inputs(self.concept_cnn)
        outputs = dict(self.unary_model(dict(inputs)))
        inputs["input_ids"] = keras.Input((None,), dtype="int32", name="input_ids")
        outputs["image_embedding"] = embedding = self.select_embedding(outputs)
        outputs["sequence_logits"] = self.teacher_forcing_model([embedding, inputs["input_ids"]])
        return keras.Model(inputs, outputs, name=self.config.variant)

    def _unary_inputs(self, images, tags) -> dict:
        inputs = {"image": images}
        if self.concept_cnn.tag_mlp is not None:
            if tags is None:
                raise ValueError("this model has a tag MLP (use_tags): pass the batch's 'tags'")
            inputs["tags"] = tags
        return inputs

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
            bridge_mode=config.bridge_mode, dropout=config.dropout)
    # Building the functional graphs creates every variable (checkpoints restore eagerly).
    return SCnnRnnModel(config, concept_cnn, decoder)
