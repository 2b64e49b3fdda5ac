"""``PYTHONPATH=tests python -m fixture_builders``: rewrite every bundled fixture under ``janus_eval/fixtures/``."""

from fixture_builders.common import main

main()
