"""janus-eval: exact, fast evaluation of DeepSeek's Janus models on the paper's benchmarks."""

__version__ = "0.1.0"
