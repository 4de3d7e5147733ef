"""Exceptions raised by recai. Each message names the offending file, key or value."""


class RecaiError(Exception):
    """Base class for recai's own errors."""


class CheckpointError(RecaiError, ValueError):
    """A model checkpoint is unreadable, truncated, corrupt or inconsistent with its config."""


class TokenizerError(RecaiError, ValueError):
    """A tokenizer file is missing, unreadable, or inconsistent with the model."""


class FetchError(RecaiError, RuntimeError):
    """A model could not be obtained or failed its checksum."""


class DataError(RecaiError, ValueError):
    """A dataset file is malformed or inconsistent; the message names the file, line or field."""


class QueryError(RecaiError, ValueError):
    """A catalog query was refused (not a single read-only SELECT) or exceeded its row or time limit."""


class LLMError(RecaiError, RuntimeError):
    """A language-model backend failed: unreachable, timed out, refused the key, or sent a bad reply."""


class ContextLengthError(LLMError, ValueError):
    """A conversation does not fit the model's context window."""
