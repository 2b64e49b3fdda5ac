"""The ``janus-eval`` subcommands, one module per concern; ``janus_eval.cli`` registers them and turns errors into one line."""
