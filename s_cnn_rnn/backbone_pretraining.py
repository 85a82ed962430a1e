"""Pretraining a backbone on single-label classification (the miniature's ImageNet), in memory.

`pretrain(options, train, heldout)` builds the backbone exactly as `s-cnn-rnn-train` does
(`backbones.build_backbone`, no weights), puts a softmax classifier on its pooled features and
trains both with Keras `fit` on uint8 images given as arrays. Images go through the input
pipeline's own `image_preprocessing.preprocess` (the evaluation view, scaled as the backbone's
spec says; training images also flipped at random). After training the BatchNorm statistics are
re-estimated on training images, and the held-out images are classified with BatchNorm in
inference mode, the mode a frozen backbone ("Fix", T7) runs in downstream.

Knows nothing of where the images come from or of files: the caller saves `result.backbone`.
"""

import dataclasses
import time
from typing import Callable, Optional

import keras
import numpy as np
import tensorflow as tf

from s_cnn_rnn import image_preprocessing
from s_cnn_rnn.models import backbone_specs
from s_cnn_rnn.models import backbones
from s_cnn_rnn.pretrain_options import PretrainOptions
from s_cnn_rnn.training import runtime

_EVAL_BATCH = 256
_SHUFFLE_BUFFER = 4096
# Training images the BatchNorm statistics are re-estimated on after training.
_RECALIBRATION_IMAGES = 2048


@dataclasses.dataclass(frozen=True)
class LabelledImages:
    """Images and their classes.

    Attributes:
      images: uint8 `[N, H, W, 3]` RGB.
      labels: int `[N]` class indices in `[0, num_classes)`.
    """

    images: np.ndarray
    labels: np.ndarray


@dataclasses.dataclass(frozen=True)
class PretrainResult:
    """A pretrained backbone and how well its features classify held-out images.

    Attributes:
      backbone: the `keras.Model` named "backbone" (`[B, S, S, 3] -> [B, F]`).
      heldout_top1: share of held-out images whose arg-max class is right.
      chance_top1: 1 / num_classes.
      final_loss: mean training cross-entropy of the last `log_every` steps.
      seconds: wall seconds of the training and the evaluation.
      cpu_seconds: process CPU seconds of the same.
    """

    backbone: keras.Model
    heldout_top1: float
    chance_top1: float
    final_loss: float
    seconds: float
    cpu_seconds: float


class _LossLog(keras.callbacks.Callback):
    """Hands the mean loss of every `every` steps to `log(step, loss)`.

    Keras' `logs["loss"]` is the running mean since the epoch began (one epoch here); each step's
    own loss is recovered from two consecutive running means.
    """

    def __init__(self, every: int, log: Callable[[int, float], None]):
        super().__init__()
        self._every, self._log, self._losses = every, log, []
        self._running = 0.0
        self.last_mean = float("nan")

    def on_train_batch_end(self, batch, logs=None):
        running = float(logs["loss"])
        self._losses.append((batch + 1) * running - batch * self._running)
        self._running = running
        if (batch + 1) % self._every == 0 or batch + 1 == self.params["steps"]:
            self.last_mean = float(np.mean(self._losses))
            self._log(batch + 1, self.last_mean)
            self._losses = []


def _train_dataset(train: LabelledImages, options: PretrainOptions, mode: str) -> tf.data.Dataset:
    """Endless shuffled, flipped `(images [B, S, S, 3] float32, labels [B])` batches.

    The images are the evaluation view plus a random left-right flip: no random crop or colour
    jitter, since the drawing already varies the object's position, size, colour and lighting
    (and a crop could cut the one object out of its image).
    """
    images = tf.data.Dataset.from_tensor_slices((train.images, train.labels.astype(np.int32)))
    images = images.shuffle(min(_SHUFFLE_BUFFER, len(train.labels)), seed=options.seed,
                            reshuffle_each_iteration=True).repeat()
    # One stateless seed per example drawn (a counter), so a seed reproduces every flip.
    examples = tf.data.Dataset.zip(images, tf.data.Dataset.counter())

    def view(example, count):
        image, label = example
        image = image_preprocessing.preprocess(image, options.image_size, mode)
        seed = tf.stack([tf.constant(options.seed, tf.int64), count])
        return tf.image.stateless_random_flip_left_right(image, seed), label

    # Plain TF ops: AutoGraph's source rewrite would change nothing but the start-up cost.
    return examples.map(tf.autograph.experimental.do_not_convert(view), num_parallel_calls=tf.data.AUTOTUNE,
                        deterministic=True).batch(options.batch_size, drop_remainder=True).prefetch(2)


def _eval_dataset(images: np.ndarray, options: PretrainOptions, mode: str) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices(images).map(
        tf.autograph.experimental.do_not_convert(
            lambda image: image_preprocessing.preprocess(image, options.image_size, mode)),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(_EVAL_BATCH)


def recalibrate_batch_norm(backbone: keras.Model, images: np.ndarray, options: PretrainOptions, mode: str) -> None:
    """Sets every BatchNorm's moving mean and variance to its statistics over `images`.

    The moving averages trail the weights (momentum 0.99: still ~0.99^n of their start after n
    steps) and saw only training batches; a frozen backbone downstream ("Fix", T7) uses them in
    inference mode on evaluation views. So they are re-estimated once training is over: a
    cumulative average over the batches (momentum 1 - 1/k at the k-th), weights unchanged.
    """
    norms = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    try:
        for count, batch in enumerate(_eval_dataset(images, options, mode), start=1):
            for layer in norms:
                layer.momentum = 1.0 - 1.0 / count
            backbone(batch, training=True)  # eager: each call reads the momentum just set
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum


def top1_accuracy(classifier: keras.Model, heldout: LabelledImages, options: PretrainOptions,
                  mode: str) -> float:
    """Share of `heldout` images whose arg-max logit is their class (inference mode)."""
    logits = classifier.predict(_eval_dataset(heldout.images, options, mode), verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == heldout.labels))


def pretrain(options: PretrainOptions, train: LabelledImages, heldout: LabelledImages, num_classes: int,
             log: Optional[Callable[[int, float], None]] = None, log_every: int = 100) -> PretrainResult:
    """Trains `options.backbone` + a softmax layer on `train`; measures top-1 on `heldout`.

    Seeds Python, NumPy, TF and Keras with `options.seed` and turns on TF op determinism (as
    `s-cnn-rnn-train --deterministic` does), so a seed gives the same weights.

    Args:
      options: the sizes, seed and optimisation settings.
      train, heldout: images of any side (resized to `options.image_size`), classes `< num_classes`.
      num_classes: softmax width.
      log: called as `log(step, mean_loss)` every `log_every` steps and at the end.
      log_every: see `log`.

    Returns:
      A `PretrainResult`.
    """
    runtime.set_determinism(options.seed, deterministic=True)
    mode = backbone_specs.get(options.backbone).pixel_scaling
    backbone = backbones.build_backbone(options.backbone, "none", options.image_size, width=options.small_cnn_width)
    images = keras.Input((options.image_size, options.image_size, 3), name="images")
    logits = keras.layers.Dense(num_classes, name="class_logits")(backbone(images))
    classifier = keras.Model(images, logits, name="pretraining_classifier")
    schedule = keras.optimizers.schedules.CosineDecay(options.learning_rate, options.train_steps)
    classifier.compile(optimizer=keras.optimizers.Adam(schedule),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    loss_log = _LossLog(log_every, log or (lambda step, loss: None))
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    classifier.fit(_train_dataset(train, options, mode), epochs=1, steps_per_epoch=options.train_steps,
                   callbacks=[loss_log], shuffle=False, verbose=0)
    recalibrate_batch_norm(backbone, train.images[:_RECALIBRATION_IMAGES], options, mode)
    top1 = top1_accuracy(classifier, heldout, options, mode)
    return PretrainResult(backbone=backbone, heldout_top1=top1, chance_top1=1.0 / num_classes,
                          final_loss=loss_log.last_mean, seconds=time.perf_counter() - start_wall,
                          cpu_seconds=time.process_time() - start_cpu)
