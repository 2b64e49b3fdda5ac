"""Builders of the bundled mini datasets in ``janus_eval/fixtures/`` (test-only; not shipped with the package).

Regenerate them all from the repository root with ``PYTHONPATH=tests python -m fixture_builders``; one
benchmark with e.g. ``PYTHONPATH=tests python -c "import random; from fixture_builders import make_pope as m; m.build(random.Random('make_pope'))"``.
"""
