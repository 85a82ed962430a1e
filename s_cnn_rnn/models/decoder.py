"""`CaptionDecoder`: the relational model, image embedding `I_e` -> LSTM -> word/label logits (Sec. 3.3).

    I_e [B, D] -> bridge -> (h0, c0);  x_t = E · a_{t-1} (M4);  h_t = LSTM(x_t, h_{t-1}, c_{t-1});
    logits_t = W · h_t + b   (softmax in the loss / decoding)

The bridge has two modes (`ModelConfig.bridge_mode`):
  * "initial_state" (S-CNN-RNN M2, RIA Fig. 1b): h0 = Dense(lstm_units)(I_e), c0 = 0. The paper
    sets the hidden state only ("to allow for the flexibility of using arbitrary LSTM unit size",
    footnote 2); a zero cell state is our reading. The Dense is linear, as in RIA's
    h0 = W_i I_e + b_i.
  * "step_zero_input" (NIC Fig. 1a): x_img = Dense(embedding_dim)(I_e) is the LSTM input of a step
    before `<start>`: (h0, c0) = LSTM(x_img, 0, 0); that step's output is discarded.

The LSTM is `keras.layers.LSTMCell` (no peepholes, like TF's BasicLSTMCell, M3; Keras initialises the
forget-gate bias to 1 where BasicLSTMCell adds a constant forget_bias of 1). Teacher forcing runs the
SAME cell through `keras.layers.RNN`, so `call` and `step` share every weight.
"""

import keras

BRIDGE_MODES = ("initial_state", "step_zero_input")


class CaptionDecoder(keras.layers.Layer):
    """Bridge + word embedding + LSTM cell + word logits.

    Args:
      vocab_size: V, output (and input) token vocabulary including the specials.
      embedding_dim: word embedding size E.
      lstm_units: LSTM size H.
      lstm_activation: "tanh" (captions) or "relu" (multi-label, M5).
      bridge_mode: "initial_state" or "step_zero_input" (see the module docstring).
      dropout: rate on word embeddings and LSTM outputs, training only.

    Example:
      >>> decoder = CaptionDecoder(vocab_size=11, embedding_dim=8, lstm_units=8)
      >>> logits = decoder(keras.ops.ones([2, 6]), keras.ops.ones([2, 4], "int32"))  # [2, 4, 11]
      >>> state = decoder.initial_state(keras.ops.ones([2, 6]))                       # (h, c)
      >>> step_logits, state = decoder.step(keras.ops.ones([2], "int32"), state)     # [2, 11]
    """

    def __init__(self, vocab_size: int, embedding_dim: int, lstm_units: int,
                 lstm_activation: str = "tanh", bridge_mode: str = "initial_state",
                 dropout: float = 0.0, **kwargs):
        kwargs.setdefault("name", "decoder")
        super().__init__(**kwargs)
        if bridge_mode not in BRIDGE_MODES:
            raise ValueError(f"unknown bridge_mode {bridge_mode!r}; expected one of {BRIDGE_MODES}")
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.lstm_units = lstm_units
        self.lstm_activation = lstm_activation
        self.bridge_mode = bridge_mode
        self.dropout = dropout
        bridge_units = lstm_units if bridge_mode == "initial_state" else embedding_dim
        self.bridge = keras.layers.Dense(bridge_units, name="bridge")
        self.word_embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="word_embedding")
        self.lstm_cell = keras.layers.LSTMCell(lstm_units, activation=lstm_activation,
                                               name="lstm_cell")
        self.sequence_rnn = keras.layers.RNN(self.lstm_cell, return_sequences=True, name="lstm")
        self.embedding_dropout = keras.layers.Dropout(dropout, name="embedding_dropout")
        self.output_dropout = keras.layers.Dropout(dropout, name="output_dropout")
        # float32 logits even under mixed precision (softmax cross-entropy, beam scores).
        self.word_logits = keras.layers.Dense(vocab_size, dtype="float32", name="word_logits")

    def initial_state(self, image_embedding, training=False):
        """LSTM state before `<start>`.

        Args:
          image_embedding: `I_e [B, D]` (concept probabilities or pooled features).

        Returns:
          `(h, c)`, each `[B, lstm_units]` in the compute dtype.
        """
        bridged = self.bridge(image_embedding)                          # [B, H] or [B, E]
        if self.bridge_mode == "initial_state":
            return bridged, keras.ops.zeros_like(bridged)
        zeros = keras.ops.zeros((keras.ops.shape(bridged)[0], self.lstm_units),
                                dtype=self.lstm_cell.compute_dtype)     # [B, H]
        _, (hidden, cell) = self.lstm_cell(bridged, [zeros, zeros], training=training)
        return hidden, cell

    def step(self, token_ids, state, training=False):
        """One decoding step (the decoders' `step_fn`).

        Args:
          token_ids: `[N]` int32, the previous tokens (`<start>` first).
          state: `(h, c)`, each `[N, lstm_units]`.

        Returns:
          `(logits [N, V] float32, (h, c))`.
        """
        embedded = self.embedding_dropout(self.word_embedding(token_ids), training=training)  # [N, E]
        output, (hidden, cell) = self.lstm_cell(embedded, list(state), training=training)
        logits = self.word_logits(self.output_dropout(output, training=training))           # [N, V]
        return logits, (hidden, cell)

    def call(self, image_embedding, input_ids, training=False):
        """Teacher forcing.

        Args:
          image_embedding: `I_e [B, D]`.
          input_ids: `[B, T]` int32, `<start>` followed by the target tokens.

        Returns:
          logits `[B, T, V]` float32; `logits[:, t]` predicts `target_ids[:, t]`.
        """
        hidden, cell = self.initial_state(image_embedding, training=training)
        embedded = self.embedding_dropout(self.word_embedding(input_ids), training=training)  # [B, T, E]
        outputs = self.sequence_rnn(embedded, initial_state=[hidden, cell], training=training)  # [B, T, H]
        return self.word_logits(self.output_dropout(outputs, training=training))             # [B, T, V]

    def get_config(self):
        config = super().get_config()
        config.update(vocab_size=self.vocab_size, embedding_dim=self.embedding_dim,
                      lstm_units=self.lstm_units, lstm_activation=self.lstm_activation,
                      bridge_mode=self.bridge_mode, dropout=self.dropout)
        return config
