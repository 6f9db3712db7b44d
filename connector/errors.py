"""One error tree for the whole connector.

    ConnectorError                  anything the connector reports to a person
    ├── ConfigError                 bad configuration or usage: exit code 2
    │   └── UnknownPlugin           no ledger or provider by that name
    ├── StoreError                  the store cannot be opened, migrated or written
    ├── NotFound                    an administration, debtor or item that does not exist
    ├── AuthError                   sign-in failed
    │   └── ReconnectRequired       the grant is dead; a person must connect again
    ├── RateLimited                 the remote side asks us to slow down (retry_after)
    ├── LedgerError                 the ledger answered with an error
    │   ├── RetriableLedgerError    worth retrying (5xx, timeouts)
    │   └── InputRejected           the input (a file, a record) is wrong; nothing was changed
    ├── NotSupported                the ledger cannot do this (see its capabilities)
    ├── ChannelError                a dunning channel failed; nothing was delivered (retry)
    │   └── ChannelUncertain        it is unknown whether it was delivered (a person decides)
    └── WebhookRejected             a callback that failed verification or parsing
        └── EventUnusable           genuinely signed, but its content cannot be used (kept as
                                    rejected with the reason, acknowledged so it is not retried)

Every message is one line a person can act on: what is wrong and what to do.
"""

from __future__ import annotations

from collections.abc import Sequence


class ConnectorError(Exception):
    """Base of every error the connector reports to a person."""

    exit_code = 1


class ConfigError(ConnectorError):
    """The configuration or the command line is wrong."""

    exit_code = 2


class UnknownPlugin(ConfigError):
    """No ledger or payment provider is installed under that name."""


class StoreError(ConnectorError):
    """The store cannot be opened, migrated or written."""


class NotFound(ConnectorError):
    """A record named on the command line or in a call does not exist."""


class AuthError(ConnectorError):
    """Signing in to an external system failed."""


class ReconnectRequired(AuthError):
    """The grant cannot be used any more; a person must connect again."""


class RateLimited(ConnectorError):
    """The remote side asked us to wait `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LedgerError(ConnectorError):
    """The ledger answered with an error."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RetriableLedgerError(LedgerError):
    """A failure that is worth retrying later (server error, timeout)."""


class InputRejected(LedgerError):
    """The ledger's input is wrong and was rejected whole; `problems` lists every finding."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


class NotSupported(ConnectorError):
    """The ledger cannot do this; its capabilities say so."""


class ChannelError(ConnectorError):
    """A channel failed to deliver; nothing went out, so trying again later is safe."""


class ChannelUncertain(ChannelError):
    """It is not known whether the letter went out; it must not be sent again by itself."""


class WebhookRejected(ConnectorError):
    """A callback failed verification or could not be parsed."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class EventUnusable(WebhookRejected):
    """A verified callback whose content cannot be used (unmappable, amount out of range).

    The provider signed it, so retrying will never make it usable: the edge stores it as
    rejected with this reason for a person to see, and acknowledges it so the provider stops.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, status=200)
