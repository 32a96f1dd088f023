"""securetune: fine-tune language models on sensitive text without leaking it."""

__version__ = "0.1.0"
