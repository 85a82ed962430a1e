"""Decodes (the first images of) a split with a trained model: the Annotator over the evaluation view.

The annotation runs in one tf.function over fixed-size batches (the last partial batch is
padded), so it traces once and can be XLA-compiled or run on an accelerator unchanged.
"""

import sys

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from s_cnn_rnn import decode_options
from s_cnn_rnn import inference
from s_cnn_rnn import input_pipeline


def pipeline_config(trained: inference.TrainedModel, batch_size: int) -> input_pipeline.PipelineConfig:
    """The evaluation view (central crop, no augmentation) in the model's image size and pixel scaling."""
    config = trained.config
    return input_pipeline.PipelineConfig(
        task=trained.task, batch_size=batch_size, image_size=config.resolved_image_size,
        preprocessing=config.preprocessing_mode, training=False, read_images=True, deterministic=True,
    )


def _pad_batch(tensor: tf.Tensor, batch_size: int) -> tf.Tensor:
    """Zero-pads `[n, ...]` to `[batch_size, ...]` so every call has the same static shape."""
    missing = batch_size - tf.shape(tensor)[0]
    paddings = tf.concat([[[0, missing]], tf.zeros([tf.rank(tensor) - 1, 2], tf.int32)], axis=0)
    return tf.pad(tensor, paddings)


def decode_split(trained: inference.TrainedModel, data_dir: str, split: str, batch_size: int = 32,
                 beam_width: int = 3, max_images: int | None = None, show_progress: bool = True,
                 concepts: str = "predicted", label_decoding: str = "no_repeat") -> dict:
    """Runs the Annotator over (the first `max_images` images of) a split.

    Args:
      label_decoding: multi-label greedy decoding, "no_repeat" or "plain" (`DecodeOptions.label_decoding`).
      concepts: "predicted" (the model as trained) or "ground_truth": the bridge reads each
        image's ground-truth concept multi-hot (the batch's "concepts") instead of the CNN's
        probabilities (`DecodeOptions.concepts`).

    Returns:
      NumPy arrays, one row per image in pipeline order: "image_id" `[N]`, "truth" `[N, k]`
      (the batch's "concepts" multi-hot: labels for multi-label), and the Annotator's outputs
      (see `inference.Annotator.__call__`).

    Raises:
      ValueError: the split gave no images.
      errors.OptionError: ground-truth concepts for a model whose bridge does not read concepts.
    """
    decode_options.check_concept_source(concepts, trained.config.variant)  # before reading any data
    num_examples = input_pipeline.dataset_info(data_dir)["num_examples"].get(split, 0)
    total = num_examples if max_images is None else min(num_examples, max_images)
    batch_size = max(1, min(batch_size, total or 1))
    dataset = input_pipeline.make_dataset(data_dir, split, pipeline_config(trained, batch_size))
    annotator = inference.Annotator(trained, beam_width=beam_width, label_decoding=label_decoding)
    # Decoding is written in TF ops (it runs eagerly too): AutoGraph's rewrite would only cost seconds.
    annotate = tf.function(annotator.__call__, autograph=False)
    chunks: dict[str, list] = {}
    done = 0
    with tqdm(total=total, unit="img", desc=f"decoding {split}", disable=not show_progress, file=sys.stderr) as bar:
        for batch in dataset:
            count = min(int(batch["image_id"].shape[0]), total - done)
            oracle = _pad_batch(batch["concepts"], batch_size) if concepts == "ground_truth" else None
            outputs = annotate(_pad_batch(batch["image"], batch_size), _pad_batch(batch["tags"], batch_size),
                               concepts=oracle)
            rows = {"image_id": batch["image_id"], "truth": batch["concepts"], **outputs}
            for key, value in rows.items():
                chunks.setdefault(key, []).append(np.asarray(value)[:count])
            done += count
            bar.update(count)
            if done >= total:
                break
    if done == 0:
        raise ValueError(f"split {split!r} of {data_dir} gave no images to evaluate (max_images={max_images})")
    return {key: np.concatenate(values) for key, values in chunks.items()}
