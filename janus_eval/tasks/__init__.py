"""One module per benchmark; each registers itself with ``@task``."""
