r"""`s-cnn-rnn-convert`: a raw dataset -> sharded TFRecords, vocabularies and manifest.json.

Examples:
  s-cnn-rnn-convert --dataset=synthetic --output_dir=/tmp/synth
  s-cnn-rnn-convert --dataset=coco_captions --output_dir=/data/coco_tfr \
      --captions_json=annotations/captions_train2014.json,annotations/captions_val2014.json \
      --image_dir=train2014,val2014 \
      --splits=val:karpathy_val_ids.txt,test:karpathy_test_ids.txt
  s-cnn-rnn-convert --dataset=nuswide --nuswide_dir=NUS-WIDE --image_dir=Flickr --output_dir=...

Everything is written into a staging directory beside `--output_dir` and renamed into place
at the end, so an interrupted run leaves no partial output.
"""

from s_cnn_rnn import command_line

command_line.quiet_startup(__name__)  # before TensorFlow is imported

from absl import app  # noqa: E402

from data_prep import convert_lib  # noqa: E402
from s_cnn_rnn import option_flags  # noqa: E402

# Every flag is a ConvertOptions field (its comment is the help; see s_cnn_rnn/option_flags.py).
_OPTIONS = option_flags.define(convert_lib.ConvertOptions, defaults={"dataset": "synthetic"})


def options_from_flags() -> convert_lib.ConvertOptions:
    """The library's options, read from the flags (ConvertOptions validates them)."""
    return _OPTIONS.build()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    manifest = convert_lib.convert(options_from_flags())
    print(convert_lib.summary_line(manifest))
    return 0


def run():
    """Console-script entry point (`s-cnn-rnn-convert`)."""
    command_line.run(main, "s-cnn-rnn-convert")


if __name__ == "__main__":
    run()
