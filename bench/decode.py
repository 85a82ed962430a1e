r"""Caption decoding throughput: batched in-graph beam search vs a per-image search vs matmul.

Builds a decoder of the paper's caption sizes (Embedding V x E, LSTMCell U, Dense V; random
weights; one LSTM unit is wired as a step counter that drives END's logit, so captions end
around 10-12 words as a trained model's do) and measures, interleaved and repeated (medians):

  batched    s_cnn_rnn.decoding.beam_search in one tf.function (and with jit_compile=True):
             `--batch_size` images x `--beam_width` beams per call
  per_image  the im2txt way: one tf.function step call per step over the live beams of ONE
             image, top-k per beam in numpy (argpartition), partial and complete captions in
             Python heaps, same semantics; runs to max_length as im2txt does
             (`per_image_early_stop`: with the batched search's early stop too)
  steps_only the decoder's steps alone on [batch * beam] rows (no search): the search's
             own overhead is 1 - batched / steps_only
  matmul     float32 matmul GFLOP/s of this machine: a [B*beam, U] x [U, V] product (the
             decoder's biggest op) and a square 2048 one, each in a tf.function, best of repeats

Decoder FLOPs per caption = steps run x beam x (LSTM 2*4*U*(E+U) + projection 2*U*V), the
embedding gather counted as 0. fraction_of_matmul_roofline = achieved decoder GFLOP/s divided
by the faster of the two matmul rates. The machine is shared, so ratios (roofline fraction,
speedups) are taken within each repeat, between neighbouring measurements, then the median;
`best_of_repeats` gives the same from each method's least disturbed repeat. The last line
printed is one JSON object.

Example:
  python bench/decode.py --batch_size=64 --beam_width=3 --vocab_size=12000 --lstm_units=512 \
      --embedding_dim=512 --max_length=20 --num_batches=2 --per_image_images=8 --repeats=7
"""

import heapq
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

import tensorflow as tf  # noqa: E402

from s_cnn_rnn.decoding import beam_search  # noqa: E402

_BATCH_SIZE = flags.DEFINE_integer("batch_size", 64, "Images per batched beam search call.")
_BEAM_WIDTH = flags.DEFINE_integer("beam_width", 3, "Beam width (SPEC I2: 3).")
_VOCAB_SIZE = flags.DEFINE_integer("vocab_size", 12000, "Output vocabulary size.")
_LSTM_UNITS = flags.DEFINE_integer("lstm_units", 512, "LSTM units.")
_EMBEDDING_DIM = flags.DEFINE_integer("embedding_dim", 512, "Word embedding size.")
_MAX_LENGTH = flags.DEFINE_integer("max_length", 20, "Maximum caption length (steps).")
_NUM_BATCHES = flags.DEFINE_integer("num_batches", 2, "Batched calls per measurement.")
_PER_IMAGE_IMAGES = flags.DEFINE_integer("per_image_images", 8, "Images per per-image measurement.")
_REPEATS = flags.DEFINE_integer("repeats", 7, "Measurements per method (after one warm-up).")
_END_STEP = flags.DEFINE_float(
    "end_step", 14.0, "Where END's logit ramp is centred (14 -> ~11-word captions).")
_LOGIT_STD = flags.DEFINE_float("logit_std", 3.5, "Std of the random word logits (peakedness).")
_SEED = flags.DEFINE_integer("seed", 0, "Random seed for weights and initial states.")

START_ID, END_ID = 1, 2
BANNED_IDS = (0, 1)  # <pad>, <start>
_COUNTER_RATE = 0.05  # cell-state increase of the counter unit per step


# ----------------------------------------------------------------------------- decoder


class Decoder:
    """Embedding -> LSTMCell -> Dense, random weights; unit 0 counts steps and drives END."""

    def __init__(self, vocab_size, embedding_dim, units, end_step, logit_std, seed):
        tf.keras.utils.set_random_seed(seed)
        self.units = units
        self.embedding = tf.keras.layers.Embedding(vocab_size, embedding_dim)
        self.cell = tf.keras.layers.LSTMCell(units)
        self.output = tf.keras.layers.Dense(vocab_size)
        self.embedding.build([None])
        self.cell.build([None, embedding_dim])
        self.output.build([None, units])
        rng = np.random.default_rng(seed)
        # Counter unit 0: gates i, f, o saturated open and candidate g = rate, so c0 ~ rate * t.
        kernel, recurrent, bias = (w.numpy() for w in self.cell.weights)
        gate_columns = [gate * units for gate in range(4)]  # columns of unit 0 in i, f, c, o
        kernel[:, gate_columns] = 0.0
        recurrent[:, gate_columns] = 0.0
        bias[gate_columns] = [12.0, 12.0, np.arctanh(_COUNTER_RATE), 12.0]
        recurrent[0, :] = 0.0  # the counter does not disturb the other units
        for weight, value in zip(self.cell.weights, (kernel, recurrent, bias)):
            weight.assign(value)
        # Word logits ~ N(0, logit_std) given a typical hidden state; END = slope * (h0 - h_end).
        out_kernel = rng.normal(0, logit_std / np.sqrt(units * 0.1), [units, vocab_size])
        out_kernel[0, :] = 0.0
        h_end = np.tanh(_COUNTER_RATE * end_step)
        out_kernel[0, END_ID] = 80.0
        out_bias = np.zeros([vocab_size])
        out_bias[END_ID] = -80.0 * h_end + logit_std * 2.0
        self.output.kernel.assign(out_kernel.astype(np.float32))
        self.output.bias.assign(out_bias.astype(np.float32))

    def initial_state(self, batch_size, seed):
        """(h, c) [batch, units] as a concept->Dense bridge would give; the counter at 0."""
        rng = np.random.default_rng(seed)
        h = np.tanh(rng.normal(0, 1, [batch_size, self.units]))
        c = rng.normal(0, 1, [batch_size, self.units])
        h[:, 0] = c[:, 0] = 0.0
        return tf.constant(h, tf.float32), tf.constant(c, tf.float32)

    def step_fn(self, token_ids, state):
        """[N] int32, ([N, U], [N, U]) -> logits [N, V], new (h, c)."""
        hidden, (h, c) = self.cell(self.embedding(token_ids), list(state))
        return self.output(hidden), (h, c)


# ----------------------------------------------------------------------------- per-image search


class _TopN:
    """The n largest items pushed (im2txt's TopN)."""

    def __init__(self, n):
        self.n, self.items, self.counter = n, [], 0

    def push(self, score, item):
        self.counter += 1  # tie-break: earlier first, never compare items
        entry = (score, -self.counter, item)
        if len(self.items) < self.n:
            heapq.heappush(self.items, entry)
        else:
            heapq.heappushpop(self.items, entry)

    def sorted(self):
        return [(score, item) for score, _, item in sorted(self.items, reverse=True)]


def per_image_beam_search(step, h, c, beam_width, max_length, early_stop):
    """im2txt-style beam search of one image. Returns [(log_prob, tokens)], best first.

    With early_stop=False it runs like im2txt: until max_length or no partial caption is left;
    with early_stop=True it also stops as the batched search does (nothing live can still beat
    the worst complete caption), which never changes the result.
    """
    live = [(0.0, [], h, c, START_ID)]  # (log_prob, tokens, h [U], c [U], last token)
    complete = _TopN(beam_width)
    for _ in range(max_length):
        log_probs, new_h, new_c = step(
            tf.constant([item[4] for item in live], tf.int32),
            tf.constant(np.stack([item[2] for item in live])),
            tf.constant(np.stack([item[3] for item in live])),
        )
        log_probs, new_h, new_c = log_probs.numpy(), new_h.numpy(), new_c.numpy()
        log_probs[:, list(BANNED_IDS)] = -np.inf
        partial = _TopN(beam_width)
        for row, (log_prob, tokens, _, _, _) in enumerate(live):
            top = np.argpartition(-log_probs[row], beam_width)[:beam_width]
            for token in top[np.argsort(-log_probs[row, top], kind="stable")]:
                total = log_prob + float(log_probs[row, token])
                if token == END_ID:
                    complete.push(total, tokens)
                else:
                    partial.push(total, (tokens + [int(token)], new_h[row], new_c[row], int(token)))
        live = [(score, *item) for score, item in partial.sorted()]
        if not live or (early_stop and len(complete.items) == beam_width
                        and live[0][0] <= complete.sorted()[-1][0]):
            break
    finished = complete.sorted()
    return finished + [(score, tokens) for score, tokens, *_ in live][: beam_width - len(finished)]


# ----------------------------------------------------------------------------- timing


def matmul_gflops_fn(m, k, n):
    """A callable timing one [m, k] x [k, n] float32 matmul in a tf.function -> GFLOP/s."""
    a, b = tf.random.normal([m, k]), tf.random.normal([k, n])
    matmul = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)[:1, :1]))
    matmul(a, b).numpy()
    calls = max(1, int(4e9 / (2 * m * k * n)))  # ~0.02-0.1 s of work per measurement

    def measure():
        start = time.perf_counter()
        for _ in range(calls):
            matmul(a, b).numpy()
        return 2 * m * k * n * calls / (time.perf_counter() - start) / 1e9

    return measure


def captions_per_second(run, captions):
    start = time.perf_counter()
    run()
    return captions / (time.perf_counter() - start)


def main(argv):
    del argv
    batch, beam, vocab, units, emb = (_BATCH_SIZE.value, _BEAM_WIDTH.value, _VOCAB_SIZE.value,
                                      _LSTM_UNITS.value, _EMBEDDING_DIM.value)
    max_length = _MAX_LENGTH.value
    decoder = Decoder(vocab, emb, units, _END_STEP.value, _LOGIT_STD.value, _SEED.value)
    steps_run = tf.Variable(0, dtype=tf.int64)

    def counted_step_fn(token_ids, state):
        steps_run.assign_add(1)
        return decoder.step_fn(token_ids, state)

    def search(h, c):
        return beam_search(counted_step_fn, (h, c), START_ID, END_ID, beam_width=beam,
                           max_length=max_length, banned_ids=BANNED_IDS)

    batched = {"graph": tf.function(search), "xla": tf.function(search, jit_compile=True)}
    state_spec = tf.TensorSpec([None, units], tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32), state_spec, state_spec])
    def per_image_step(token_ids, h, c):
        logits, (h, c) = decoder.step_fn(token_ids, (h, c))
        return tf.nn.log_softmax(logits), h, c

    states = [decoder.initial_state(batch, _SEED.value + i) for i in range(_NUM_BATCHES.value)]
    image_h, image_c = (s.numpy()[: _PER_IMAGE_IMAGES.value] for s in states[0])

    # Warm up (trace/compile), count the steps each batch runs, check the searches agree.
    steps_per_batch = []
    for h, c in states:
        before = steps_run.numpy()
        batched["graph"](h, c).token_ids.numpy()
        steps_per_batch.append(int(steps_run.numpy() - before))
    mean_steps = statistics.mean(steps_per_batch)
    first = batched["graph"](*states[0])
    xla_matches = bool(np.array_equal(batched["xla"](*states[0]).token_ids, first.token_ids))
    best_lengths = first.lengths[:, 0].numpy()
    agree = 0
    for i in range(len(image_h)):
        for early_stop in (False, True):
            (_, tokens), *_ = per_image_beam_search(per_image_step, image_h[i], image_c[i], beam,
                                                    max_length, early_stop)
            agree += tokens == list(first.token_ids[i, 0, : best_lengths[i]].numpy())

    # The model alone: the same number of steps on [batch * beam] rows, no search around it.
    @tf.function
    def steps_only(h, c):
        ids = tf.fill([batch * beam], END_ID)
        state = (tf.repeat(h, beam, axis=0), tf.repeat(c, beam, axis=0))
        for _ in tf.range(round(mean_steps)):
            logits, state = decoder.step_fn(ids, state)
            ids = ids + tf.cast(logits[:, 0] > 1e9, tf.int32)  # keep the step data-dependent
        return ids

    steps_only(*states[0]).numpy()

    def run_batched(name):
        for h, c in states:
            batched[name](h, c).token_ids.numpy()

    def run_steps_only():
        for h, c in states:
            steps_only(h, c).numpy()

    def run_per_image(early_stop):
        for i in range(len(image_h)):
            per_image_beam_search(per_image_step, image_h[i], image_c[i], beam, max_length, early_stop)

    num_batched = batch * len(states)
    # Neighbours in this order are compared with each other (the machine's load drifts).
    measures = {
        "per_image": lambda: captions_per_second(lambda: run_per_image(False), len(image_h)),
        "graph": lambda: captions_per_second(lambda: run_batched("graph"), num_batched),
        "steps_only": lambda: captions_per_second(run_steps_only, num_batched),
        "matmul_decoder_shape": matmul_gflops_fn(batch * beam, units, vocab),
        "matmul_square_2048": matmul_gflops_fn(2048, 2048, 2048),
        "xla": lambda: captions_per_second(lambda: run_batched("xla"), num_batched),
        "per_image_early_stop": lambda: captions_per_second(lambda: run_per_image(True), len(image_h)),
    }
    runs = {name: [] for name in measures}
    for _ in range(_REPEATS.value):  # interleaved, so load changes hit every method alike
        for name, measure in measures.items():
            runs[name].append(measure())
    for name, values in runs.items():
        print(f"{name:>20}: {', '.join(f'{v:.1f}' for v in values)}")
    runs = {name: np.array(values) for name, values in runs.items()}
    runs["matmul"] = np.maximum(runs["matmul_decoder_shape"], runs["matmul_square_2048"])
    flops_per_caption = mean_steps * beam * (2 * 4 * units * (emb + units) + 2 * units * vocab)
    for name in ("graph", "xla", "steps_only"):
        runs[f"{name}_gflops"] = runs[name] * flops_per_caption / 1e9
    ratios = {  # per repeat, then the median
        "fraction_of_matmul_roofline": runs["graph_gflops"] / runs["matmul"],
        "fraction_of_matmul_roofline_xla": runs["xla_gflops"] / runs["matmul"],
        "speedup_vs_per_image": runs["graph"] / runs["per_image"],
        "speedup_vs_per_image_xla": runs["xla"] / runs["per_image"],
        # Against a per-image search given the batched search's early stop too: batching alone.
        "speedup_vs_per_image_early_stop": runs["graph"] / runs["per_image_early_stop"],
        # The model's steps alone, no search: the ceiling of that speedup on this machine.
        "speedup_ceiling_steps_only_vs_per_image_early_stop":
            runs["steps_only"] / runs["per_image_early_stop"],
        # Time share of the search itself (top-k, logsumexp, gathers, loop) next to the model.
        "search_overhead_fraction": 1 - runs["graph"] / runs["steps_only"],
    }
    median = {name: float(np.median(values)) for name, values in {**runs, **ratios}.items()}
    best = {name: float(values.max()) for name, values in runs.items()}
    result = {
        "captions_per_second_batched": round(median["graph"], 2),
        "captions_per_second_batched_xla": round(median["xla"], 2),
        "per_image": round(median["per_image"], 2),
        "per_image_ms_per_caption": round(1000 / median["per_image"], 1),
        "per_image_early_stop": round(median["per_image_early_stop"], 2),
        "matmul_gflops": round(best["matmul"], 1),
        "matmul_gflops_decoder_shape": round(best["matmul_decoder_shape"], 1),
        "matmul_gflops_square_2048": round(best["matmul_square_2048"], 1),
        "decoder_gflops": round(median["graph_gflops"], 1),
        "decoder_gflops_xla": round(median["xla_gflops"], 1),
        "steps_only_gflops": round(median["steps_only_gflops"], 1),
        **{name: round(median[name], 3) for name in ratios},
        # The same from each method's best repeat (the least disturbed by other processes).
        "best_of_repeats": {
            "captions_per_second_batched": round(best["graph"], 2),
            "per_image": round(best["per_image"], 2),
            "per_image_early_stop": round(best["per_image_early_stop"], 2),
            "decoder_gflops": round(best["graph_gflops"], 1),
            "fraction_of_matmul_roofline": round(best["graph_gflops"] / best["matmul"], 3),
            "speedup_vs_per_image": round(best["graph"] / best["per_image"], 1),
            "speedup_vs_per_image_early_stop": round(best["graph"] / best["per_image_early_stop"], 1),
            "search_overhead_fraction": round(1 - best["graph"] / best["steps_only"], 3),
        },
        "decoder_steps_per_batch": round(mean_steps, 2),
        "mean_best_caption_length": round(float(best_lengths.mean()), 2),
        "xla_matches_graph": xla_matches,
        "per_image_top1_agreement": f"{agree}/{2 * len(image_h)}",
        "settings": {
            "batch_size": batch, "beam_width": beam, "vocab_size": vocab, "lstm_units": units,
            "embedding_dim": emb, "max_length": max_length, "num_batches": _NUM_BATCHES.value,
            "per_image_images": len(image_h), "repeats": _REPEATS.value,
            "end_step": _END_STEP.value, "logit_std": _LOGIT_STD.value,
            "cpu_threads": os.cpu_count(), "tensorflow": tf.__version__,
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    app.run(main)
