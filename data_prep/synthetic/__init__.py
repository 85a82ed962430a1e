"""The built-in synthetic dataset: procedurally drawn scenes in the real on-disk formats.

No real dataset can be downloaded on the project's machines, so this package draws its
own: JPEG scenes (street, park, room, beach, farm, harbour, winter) with long-tailed,
co-occurring labels, five grammar-generated captions per image and noisy user tags,
written as COCO caption/instance JSON and as the NUS-WIDE folder layout so that the real
readers in `data_prep.sources` read it unchanged. Deterministic by seed.

Example:
  from data_prep import synthetic
  summary = synthetic.generate("/tmp/raw", num_train=300, num_val=50, num_test=50)
"""

from data_prep.synthetic.catalogue import GENERATOR_VERSION
from data_prep.synthetic.catalogue import LABEL_NAMES
from data_prep.synthetic.catalogue import LABELS
from data_prep.synthetic.generator import DEFAULT_SIZES
from data_prep.synthetic.generator import generate
from data_prep.synthetic.tags import TAG_LIST
from data_prep.synthetic.world import sample_labels

__all__ = ["DEFAULT_SIZES", "GENERATOR_VERSION", "LABELS", "LABEL_NAMES", "TAG_LIST",
           "generate", "sample_labels"]
