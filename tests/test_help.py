"""`--help` of an installed console script lists its command's flags (absl lists the key flags of the module
named sys.argv[0], and a console script's sys.argv[0] is pip's launcher, which defines none)."""

import sys

from absl import flags

from s_cnn_rnn import command_line


def test_a_console_script_help_lists_the_commands_flags(monkeypatch):
    values = flags.FlagValues()  # not the global flags: other tests' commands define their own there
    flags.DEFINE_string("model_dir", None, "Where the model is.", flag_values=values,
                        module_name="s_cnn_rnn.some_command")
    flags.DEFINE_integer("cnn_train_steps", 1, "Steps.", flag_values=values, module_name="s_cnn_rnn.some_command")
    monkeypatch.setattr(sys, "argv", ["/venv/bin/s-cnn-rnn-some-command", "--help"])
    assert "--model_dir" not in values.main_module_help()
    command_line.show_flags_in_help("s_cnn_rnn.some_command", values)
    listed = values.main_module_help()
    assert "--model_dir" in listed and "--cnn_train_steps" in listed
