"""`python -m s_cnn_rnn.reproduce`: the same as `s-cnn-rnn-reproduce`."""

from s_cnn_rnn.reproduce import cli

if __name__ == "__main__":
    cli.run()
