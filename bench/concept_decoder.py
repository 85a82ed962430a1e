"""The decoder of a stage-2 model dir, run from ground-truth concepts with beam search.

Used by `bench/real_captions.py` (the relational model alone on real COCO captions).
"""

import time

import tensorflow as tf

from s_cnn_rnn import decoding, input_pipeline, record_schema, trained_model
from s_cnn_rnn import model_dir as model_dir_lib


class ConceptDecoder:
    """The decoder of a model dir, run from ground-truth concepts with beam search.

    Args:
      model_dir: an s_cnn_rnn.train model dir with an rnn checkpoint.
      beam_width, max_length: beam search settings.
      batch_size: images per call; the last batch is zero-padded (one trace).
    """

    def __init__(self, model_dir: str, beam_width: int = 3, max_length: int = 20, batch_size: int = 100):
        self.model_dir, self.batch_size = model_dir, batch_size
        self.beam_width, self.max_length = beam_width, max_length
        self.model = None

    def build(self) -> None:
        """Builds the model of model_config.json (untrained until `restore_latest`)."""
        self.model, self.config, _ = trained_model.build_model(self.model_dir)
        self.words = model_dir_lib.load_vocabularies(self.model_dir).words
        banned = (record_schema.PAD_ID, record_schema.START_ID)

        @tf.function
        def decode_batch(concepts):  # [B, k] -> best beam: ids [B, T], lengths [B]
            state = tuple(self.model.decoder_initial_state(concepts))  # ([B, H], [B, H])
            output = decoding.beam_search(self.model.step, state, start_id=record_schema.START_ID,
                                          end_id=record_schema.END_ID, beam_width=self.beam_width,
                                          max_length=self.max_length, banned_ids=banned)
            return output.token_ids[:, 0], output.lengths[:, 0]

        self._decode_batch = decode_batch

    def restore_latest(self) -> str:
        """Restores the decoder from the newest rnn checkpoint; returns its path."""
        if self.model is None:
            self.build()
        path = model_dir_lib.latest_checkpoint(self.model_dir, "rnn")
        if path is None:
            raise FileNotFoundError(f"{model_dir_lib.checkpoints_dir(self.model_dir, 'rnn')} holds no checkpoint")
        model_dir_lib.restore_checkpoint(self.model.decoder_checkpoint_items(), path)
        return path

    def _batches(self, data_dir: str, split: str):
        config = input_pipeline.PipelineConfig(
            task="caption", batch_size=self.batch_size, training=False,
            read_images=False, deterministic=True)
        return input_pipeline.make_dataset(data_dir, split, config)

    def _decode(self, batch) -> dict:
        concepts = batch["concepts"]  # [n, k], n <= B
        count = int(concepts.shape[0])
        padded = tf.pad(concepts, [[0, self.batch_size - count], [0, 0]])  # [B, k]
        token_ids, lengths = self._decode_batch(padded)
        captions = {}
        for image_id, ids, length in zip(batch["image_id"].numpy(), token_ids.numpy()[:count], lengths.numpy()):
            captions[int(image_id)] = " ".join(self.words.decode(ids[:length]))
        return captions

    def decode_split(self, data_dir: str, split: str, max_images: int | None = None) -> dict:
        """image id -> best-beam caption, for the first `max_images` images of `split`."""
        if self.model is None:
            self.build()
        captions: dict = {}
        for batch in self._batches(data_dir, split):
            captions.update(self._decode(batch))
            if max_images is not None and len(captions) >= max_images:
                break
        return dict(list(captions.items())[:max_images]) if max_images else captions

    def seconds_per_image(self, data_dir: str, split: str) -> float:
        """Decoding time per image of a full batch, after one batch to trace."""
        batches = iter(self._batches(data_dir, split))
        first = next(batches)
        self._decode(first)
        second = next(batches, first)
        started = time.monotonic()
        self._decode(second)
        return (time.monotonic() - started) / self.batch_size
