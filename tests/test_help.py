"""`--help` of an installed console script lists its command's flags (absl lists the key flags of the module
named sys.argv[0], and a console script's sys.argv[0] is pip's launcher, which defines none)."""

import sys

from absl import flags

from s_cnn_rnn import command_line
from s_cnn_rnn import train  # noqa: F401  (defines s-cnn-rnn-train's flags)


def test_a_console_script_help_lists_the_commands_flags(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/venv/bin/s-cnn-rnn-train", "--help"])
    assert "--model_dir" not in flags.FLAGS.main_module_help()
    command_line.show_flags_in_help("s_cnn_rnn.train")
    listed = flags.FLAGS.main_module_help()
    assert "--model_dir" in listed and "--cnn_train_steps" in listed and "--backbone_weights" in listed
