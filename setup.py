"""Package metadata for the S-CNN-RNN reference implementation."""

import glob

import setuptools

CONSOLE_SCRIPTS = [
    "s-cnn-rnn-demo=s_cnn_rnn.demo:run",
    "s-cnn-rnn-convert=data_prep.convert:run",
    "s-cnn-rnn-train=s_cnn_rnn.train:run",
    "s-cnn-rnn-score-captions=s_cnn_rnn.score_captions:run",
    "s-cnn-rnn-evaluate=s_cnn_rnn.evaluate:run",
    "s-cnn-rnn-predict=s_cnn_rnn.predict:run",
    "s-cnn-rnn-export=s_cnn_rnn.export:run",
    "s-cnn-rnn-reproduce=s_cnn_rnn.reproduce.cli:run",
    "s-cnn-rnn-pretrain-backbone=s_cnn_rnn.pretrain_backbone:run",
]

setuptools.setup(
    name="s-cnn-rnn",
    version="0.1.0",
    description=(
        "Semantic Regularisation for Recurrent Image Annotation (Liu et al., "
        "CVPR 2017) in TensorFlow 2 / Keras 3"
    ),
    python_requires=">=3.11,<3.12",
    packages=setuptools.find_packages(include=["s_cnn_rnn", "s_cnn_rnn.*", "data_prep", "data_prep.*"]),
    install_requires=[
        "tensorflow==2.21.0",
        "tensorflow-datasets==4.9.10",
        # tfds imports it but does not declare it.
        "importlib_resources>=6.0",
        "numpy>=1.26,<3",
        "pycocotools>=2.0.8",
        "pycocoevalcap==1.2",
        "absl-py>=2.1",
        # TF 2.21 no longer brings TensorBoard.
        "tensorboard==2.21.0",
        "pillow>=10.0",
        "matplotlib>=3.8",
        "tqdm>=4.66",
        # s-cnn-rnn-reproduce's paired t-test: exact t quantiles and p values.
        "scipy>=1.11",
    ],
    # pytest-xdist: the suite runs on every core (`-n auto`, at most 8), one worker process per core.
    extras_require={"test": ["pytest>=8.0", "pytest-xdist>=3.5"]},
    entry_points={"console_scripts": CONSOLE_SCRIPTS},
    # The experiment flagfiles, so that an installed `s-cnn-rnn-demo` finds its settings.
    data_files=[("share/s-cnn-rnn/flags", sorted(glob.glob("flags/*.flags")))],
)
