"""MM-Vet's grading, one sibling module per grader whose numbers we reproduce.

``lmms_eval`` (``--protocol lmms-eval``), ``vlmevalkit`` (``--protocol vlmevalkit``) and ``official``
(MM-Vet's own evaluator, ``--protocol paper``) each hold a grader's judge prompt, reply reading, retry
rules and score tables; ``common`` holds what they share. ``janus_eval.tasks.mmvet`` picks one per protocol.
"""
