"""Does TF's graph profiler count a training step's FLOPs? Checked against hand estimates.

One tf.function computes the gradients of a 3x3 convolution (the small CNN's first layer) and of an
LSTM run over a sequence (`keras.layers.RNN`, as the decoder's teacher forcing runs it), and
`tf.compat.v1.profiler` counts the float operations of its graph. Hand estimates: a convolution's
forward pass is 2*H*W*k*k*Cin*Cout per image, and the graph holds two gradient convolutions of as
many (input and filter); an LSTM step is 2*(input + units)*4*units per example forward, twice that
backward.

Run from the project root: `python bench/profiler_flops.py`. Prints the counts and the seconds the
profiler took.
"""

import time

import keras
import tensorflow as tf

BATCH, SIZE, CIN, COUT, STEPS, UNITS = 4, 32, 3, 8, 5, 16


def main() -> None:
    conv = keras.layers.Conv2D(COUT, 3, padding="same", use_bias=False)
    lstm = keras.layers.RNN(keras.layers.LSTMCell(UNITS), return_sequences=True)
    images, sequence = tf.zeros([BATCH, SIZE, SIZE, CIN]), tf.zeros([BATCH, STEPS, UNITS])
    conv(images)
    lstm(sequence)

    @tf.function
    def gradients(images, sequence, with_lstm):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(conv(images))
            if with_lstm:
                loss += tf.reduce_sum(lstm(sequence))
        return tape.gradient(loss, conv.trainable_variables + (lstm.trainable_variables if with_lstm else []))

    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    counts = {}
    for with_lstm in (False, True):
        begun = time.perf_counter()
        graph = gradients.get_concrete_function(images, sequence, with_lstm).graph
        counts[with_lstm] = tf.compat.v1.profiler.profile(graph, options=options).total_float_ops
        print(f"with_lstm={with_lstm}: profiler {counts[with_lstm]:,} FLOPs "
              f"({time.perf_counter() - begun:.2f} s to trace and count)")
    conv_forward = 2 * SIZE * SIZE * 3 * 3 * CIN * COUT * BATCH
    lstm_forward = 2 * (UNITS + UNITS) * 4 * UNITS * BATCH * STEPS
    print(f"hand estimate: convolution forward {conv_forward:,}, with its two gradients {3 * conv_forward:,}")
    print(f"hand estimate: LSTM forward + backward {3 * lstm_forward:,}; "
          f"the profiler added {counts[True] - counts[False]:,}")


if __name__ == "__main__":
    main()
