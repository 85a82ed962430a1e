"""The on-disk contract between the converter (`data_prep`) and the input pipeline.

One `tf.train.Example` per image. Every index below is 0-based into the vocabulary
file named beside it (see `s_cnn_rnn.vocabulary` for the file format):

| key                   | type         | meaning                                                    |
|-----------------------|--------------|------------------------------------------------------------|
| image/encoded         | bytes        | RGB JPEG; absent in captions-only records (no image_dir)   |
| image/format          | bytes        | b"jpeg" (b"" when there is no image)                       |
| image/id              | int64        | the dataset's numeric image id                             |
| image/source_id       | bytes        | the dataset's own name for the image (file name, photo id) |
| image/height, /width  | int64        | of the stored JPEG (0 when there is no image)              |
| caption/text          | bytes list   | every caption, as written in the source                    |
| caption/token_ids     | int64 list   | all captions' word ids (words.txt), concatenated, no START/END |
| caption/lengths       | int64 list   | one length per caption; sums to len(caption/token_ids)     |
| concept/indices       | int64 list   | ascending indices into concepts.txt present in the image   |
| label/sequence        | int64 list   | indices into labels.txt, RARE-FIRST (labels.txt is itself  |
|                       |              | sorted rare-first, so this is ascending)                   |
| tag/indices           | int64 list   | ascending indices into tags.txt (noisy user tags)          |

Concepts, labels and tags are stored as sparse indices; the input pipeline turns them
into multi-hot vectors (a 1,000-wide multi-hot stored densely would be ~2 KB per image).
"""

IMAGE_ENCODED = "image/encoded"
IMAGE_FORMAT = "image/format"
IMAGE_ID = "image/id"
IMAGE_SOURCE_ID = "image/source_id"
IMAGE_HEIGHT = "image/height"
IMAGE_WIDTH = "image/width"
CAPTION_TEXT = "caption/text"
CAPTION_TOKEN_IDS = "caption/token_ids"
CAPTION_LENGTHS = "caption/lengths"
CONCEPT_INDICES = "concept/indices"
LABEL_SEQUENCE = "label/sequence"
TAG_INDICES = "tag/indices"

# Vocabulary files, relative to the converter's output directory.
VOCAB_DIR = "vocab"
WORDS_FILE = "vocab/words.txt"
CONCEPTS_FILE = "vocab/concepts.txt"
LABELS_FILE = "vocab/labels.txt"
TAGS_FILE = "vocab/tags.txt"
MANIFEST_FILE = "manifest.json"

# Fixed special tokens at the head of words.txt and of the label-sequence vocabulary.
PAD_TOKEN = "<pad>"
START_TOKEN = "<start>"
END_TOKEN = "<end>"
UNK_TOKEN = "<unk>"
PAD_ID, START_ID, END_ID, UNK_ID = 0, 1, 2, 3
WORD_SPECIALS = (PAD_TOKEN, START_TOKEN, END_TOKEN, UNK_TOKEN)
# The multi-label decoder's token ids are label index + len(LABEL_SPECIALS).
LABEL_SPECIALS = (PAD_TOKEN, START_TOKEN, END_TOKEN)


def parsing_spec(with_image: bool = True) -> dict:
    """Returns the `tf.io.parse_single_example` feature spec for one record.

    Args:
      with_image: parse `image/encoded` too; False for the stage-2 (relational model)
        pipeline, which never touches the image bytes.
    """
    import tensorflow as tf  # pylint: disable=import-outside-toplevel  (keeps this module TF-free)

    spec = {
        IMAGE_ID: tf.io.FixedLenFeature([], tf.int64),
        IMAGE_SOURCE_ID: tf.io.FixedLenFeature([], tf.string, default_value=""),
        CAPTION_TEXT: tf.io.VarLenFeature(tf.string),
        CAPTION_TOKEN_IDS: tf.io.VarLenFeature(tf.int64),
        CAPTION_LENGTHS: tf.io.VarLenFeature(tf.int64),
        CONCEPT_INDICES: tf.io.VarLenFeature(tf.int64),
        LABEL_SEQUENCE: tf.io.VarLenFeature(tf.int64),
        TAG_INDICES: tf.io.VarLenFeature(tf.int64),
    }
    if with_image:
        spec[IMAGE_ENCODED] = tf.io.FixedLenFeature([], tf.string, default_value="")
        spec[IMAGE_HEIGHT] = tf.io.FixedLenFeature([], tf.int64, default_value=0)
        spec[IMAGE_WIDTH] = tf.io.FixedLenFeature([], tf.int64, default_value=0)
    return spec
