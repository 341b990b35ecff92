"""The errors kccsync raises; each says what went wrong in an operator's words."""

from __future__ import annotations


class KccsyncError(Exception):
    """Base of every error kccsync raises on purpose."""


class ConfigError(KccsyncError):
    """The configuration cannot be used. `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class StoreError(KccsyncError):
    """The database cannot be used (e.g. written by a newer kccsync)."""


class ChannelError(KccsyncError):
    """A call to a sales channel failed."""


class RateLimited(ChannelError):
    """The channel answered 429: the quota is spent (ours or a shared account's)."""

    def __init__(self, message: str, *, rate_limit: float | None = None) -> None:
        super().__init__(message)
        #: `x-amzn-RateLimit-Limit` when the response carried it (requests per second).
        self.rate_limit = rate_limit


class TransientError(ChannelError):
    """A fault that may pass: network error, timeout, 5xx."""


class AuthError(ChannelError):
    """Credentials refused or access denied (401/403 after a refresh)."""


class InvalidRequestError(ChannelError):
    """The channel refused the request as invalid (400): retrying unchanged fails."""


class NotFoundError(ChannelError):
    """The channel does not know the requested resource (404)."""


class MalformedResponseError(ChannelError):
    """The channel's answer could not be understood."""


class ImportProblem(KccsyncError):
    """An order cannot be imported; the message is shown to the operator."""


class DaemonError(KccsyncError):
    """The daemon cannot go on (a channel's loops ended with an error)."""
