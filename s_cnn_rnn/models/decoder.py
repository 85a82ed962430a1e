"""The relational model, image embedding `I_e` -> LSTM -> word/label logits (Sec. 3.3).

    I_e [B, D] -> bridge -> (h0, c0);  x_t = E · a_{t-1} (M4);  h_t = LSTM(x_t, h_{t-1}, c_{t-1});
    logits_t = W · h_t + b   (softmax in the loss / decoding)

`CaptionDecoder` holds the shared layers (and their checkpoint layout); three functional graphs are
built from those same instances, so training and decoding use exactly the same weights:
  * `build_initial_state_model`: "initial_state", `I_e [B, D] -> (h0, c0)`;
  * `build_step_model`: "decoding_step", `token_ids [N], h, c -> logits [N, V], h, c` (the
    decoders' `step_fn`);
  * `build_teacher_forcing_model`: "teacher_forcing", `I_e [B, D], input_ids [B, T] -> logits
    [B, T, V]` (the initial-state graph, then the SAME `lstm_cell` run by `keras.layers.RNN`).

The bridge has two modes (`ModelConfig.bridge_mode`):
  * "initial_state" (S-CNN-RNN M2, RIA Fig. 1b): h0 = Dense(lstm_units)(I_e), c0 = 0. The paper
    sets the hidden state only ("to allow for the flexibility of using arbitrary LSTM unit size",
    footnote 2); a zero cell state is our reading. The Dense is linear, as in RIA's
    h0 = W_i I_e + b_i.
  * "step_zero_input" (NIC Fig. 1a): x_img = Dense(embedding_dim)(I_e) is the LSTM input of a step
    before `<start>`: (h0, c0) = LSTM(x_img, 0, 0); that step's output is discarded.

The LSTM is `keras.layers.LSTMCell` (no peepholes, like TF's BasicLSTMCell, M3; Keras initialises the
forget-gate bias to 1 where BasicLSTMCell adds a constant forget_bias of 1, and draws its kernels
differently: BUILD_NOTES D-10).
"""

import keras

from s_cnn_rnn.models import layers as layers_lib
from s_cnn_rnn.models import layout as layout_lib

BRIDGE_MODES = ("initial_state", "step_zero_input")


class CaptionDecoder:
    """The relational model's layers: bridge, word embedding, LSTM cell, word logits.

    A plain container (the models are the functional graphs built below).

    Args:
      vocab_size: V, output (and input) token vocabulary including the specials.
      embedding_dim: word embedding size E.
      lstm_units: LSTM size H.
      lstm_activation: "tanh" (captions) or "relu" (multi-label, M5).
      bridge_mode: "initial_state" or "step_zero_input" (see the module docstring).
      dropout: rate on word embeddings and LSTM outputs, training only.
    """

    def __init__(self, vocab_size: int, embedding_dim: int, lstm_units: int,
                 lstm_activation: str = "tanh", bridge_mode: str = "initial_state",
                 dropout: float = 0.0):
        if bridge_mode not in BRIDGE_MODES:
            raise ValueError(f"unknown bridge_mode {bridge_mode!r}; expected one of {BRIDGE_MODES}")
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.lstm_units = lstm_units
        self.bridge_mode = bridge_mode
        bridge_units = lstm_units if bridge_mode == "initial_state" else embedding_dim
        self.bridge = keras.layers.Dense(bridge_units, name="bridge")
        self.word_embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="word_embedding")
        self.lstm_cell = keras.layers.LSTMCell(lstm_units, activation=lstm_activation,
                                               name="lstm_cell")
        self.sequence_rnn = keras.layers.RNN(self.lstm_cell, return_sequences=True, name="lstm")
        self.zero_state = layers_lib.ZeroState(lstm_units, name="zero_state")
        self.embedding_dropout = keras.layers.Dropout(dropout, name="embedding_dropout")
        self.output_dropout = keras.layers.Dropout(dropout, name="output_dropout")
        # float32 logits even under mixed precision (softmax cross-entropy, beam scores).
        self.word_logits = keras.layers.Dense(vocab_size, dtype="float32", name="word_logits")

    def checkpoint_layout(self) -> dict:
        """The layers under their checkpoint names (`zero_state` has no weights and no entry)."""
        return {"bridge": self.bridge, "word_embedding": self.word_embedding,
                "lstm_cell": self.lstm_cell, "sequence_rnn": self.sequence_rnn,
                "embedding_dropout": self.embedding_dropout, "output_dropout": self.output_dropout,
                "word_logits": self.word_logits}

    @property
    def trainable_variables(self) -> list:
        """What stage 2 updates, in checkpoint-layout order (the optimizer's slot order)."""
        return layout_lib.variables_of(self.checkpoint_layout(), trainable_only=True)

    @property
    def trainable_weights(self) -> list:
        return self.trainable_variables

    @property
    def weights(self) -> list:
        return layout_lib.variables_of(self.checkpoint_layout(), trainable_only=False)


def _state_inputs(decoder: CaptionDecoder) -> list:
    # The state flows in the LSTM's compute dtype (float16 under mixed precision): no casts.
    return [keras.Input((decoder.lstm_units,), dtype=decoder.lstm_cell.compute_dtype, name=name)
            for name in ("h", "c")]


def _words_to_logits(decoder: CaptionDecoder, words, run_lstm):
    """Shared by the step and teacher forcing: embed, dropout, `run_lstm`, dropout, logits.

    Args:
      words: token ids `[N]` (one step) or `[B, T]` (a sequence).
      run_lstm: `embedded -> (lstm output, state)`.
    """
    embedded = decoder.embedding_dropout(decoder.word_embedding(words))
    output, state = run_lstm(embedded)
    return decoder.word_logits(decoder.output_dropout(output)), state


def build_initial_state_model(decoder: CaptionDecoder, embedding_width: int) -> keras.Model:
    """The "initial_state" graph (the bridge): `I_e [B, D] -> [h0, c0]`, each `[B, lstm_units]` in the compute dtype."""
    image_embedding = keras.Input((embedding_width,), name="image_embedding")
    bridged = decoder.bridge(image_embedding)                           # [B, H] or [B, E]
    zeros = decoder.zero_state(bridged)                                 # [B, H]
    if decoder.bridge_mode == "initial_state":
        hidden, cell = bridged, zeros
    else:
        _, (hidden, cell) = decoder.lstm_cell(bridged, [zeros, zeros])
    return keras.Model(image_embedding, [hidden, cell], name="initial_state")


def build_step_model(decoder: CaptionDecoder) -> keras.Model:
    """The "decoding_step" graph: `[token_ids [N] int32, h, c] -> [logits [N, V] float32, h, c]`."""
    token_ids = keras.Input((), dtype="int32", name="token_ids")
    state = _state_inputs(decoder)
    logits, (hidden, cell) = _words_to_logits(
        decoder, token_ids, lambda embedded: decoder.lstm_cell(embedded, state))
    return keras.Model([token_ids, *state], [logits, hidden, cell], name="decoding_step")


def build_teacher_forcing_model(decoder: CaptionDecoder, initial_state: keras.Model) -> keras.Model:
    """The "teacher_forcing" graph: `[I_e [B, D], input_ids [B, T] int32] -> logits [B, T, V]` float32.

    `input_ids` is `<start>` followed by the target tokens; `logits[:, t]` predicts
    `target_ids[:, t]`.
    """
    image_embedding = keras.Input(initial_state.input_shape[1:], name="image_embedding")
    input_ids = keras.Input((None,), dtype="int32", name="input_ids")
    state = initial_state(image_embedding)
    logits, _ = _words_to_logits(
        decoder, input_ids, lambda embedded: (decoder.sequence_rnn(embedded, initial_state=state), None))
    return keras.Model([image_embedding, input_ids], logits, name="teacher_forcing")
