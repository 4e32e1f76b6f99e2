"""``client.account``: the balance and traffic of the account behind the API key."""

from __future__ import annotations

from ..models.account import AccountInfo
from ._base import Resource

__all__ = ["AsyncAccount"]


class AsyncAccount(Resource):
    """The account behind the API key."""

    __slots__ = ()

    async def info(self, *, timeout: float | None = None, max_retries: int | None = None) -> AccountInfo:
        """Return the balance (``Decimal`` USD) and traffic of the account (``POST /api/v1/account/info``).

        The cheapest authenticated call: a good credential check.

        Raises:
            AuthenticationError: missing, invalid (20001) or expired (20002) key.
            AccountUnavailableError: the account does not exist or is disabled.

        Example::

            info = await client.account.info()
            print(info.balance, info.traffic_expiration_at)
        """
        return await self._manager.call(
            self._ops.account_info, None, timeout=timeout, max_retries=max_retries
        )
