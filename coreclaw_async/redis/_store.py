"""``RedisCallbackStore``: one callback inbox for the receivers of many processes, on Redis.

Keys, all under one Redis Cluster hash tag (``{<prefix>}``, one slot per store):

* ``{p}:launch:<key>``: a hash per launch (``owner``, ``number``, ``label``, ``run``,
  ``run_slug``), where ``<key>`` is the SHA-256 of the launch's URL token: reading Redis
  gives out no URL that would be accepted;
* ``{p}:notices:<key>``: the launch's accepted notices, a list in arrival order;
* ``{p}:run:<run>``: the key of the launch a run was bound to (or first notified about);
* ``{p}:inbox:<instance>``: a stream per receiver, the notices other processes took for
  its launches.

A launch's keys expire together, ``entry_ttl`` after its registration; an inbox expires
``inbox_ttl`` after its reader last refreshed it, so a process that is gone leaves nothing.

A notice is recorded by one Lua script, atomically: it checks the launch still exists and
belongs to the receiver the caller named, refuses a notice naming another run than the one
the launch is bound to, drops a status the launch already recorded (whichever process took
it), caps the statuses at ``MAX_NOTICES_PER_LAUNCH``, appends the notice, indexes its run,
and, when the process that took it did not mint the launch, appends it to the owner's inbox
(``XADD`` with ``MAXLEN ~``). Run slugs and statuses come from senders, so in keys and in
the script's comparisons they appear as themselves only when short and plain (letters,
digits, ``._~/:-``), else as ``#`` and their SHA-256; every value written is ASCII, so the
store works with clients made with or without ``decode_responses``. Needs Redis 6.2 or later.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

import attrs

from .._constants import (
    CALLBACK_INBOX_BATCH,
    CALLBACK_INBOX_MAX_LENGTH,
    CALLBACK_STORE_KEY_PREFIX,
    CALLBACK_STORE_TIMEOUT,
    DEFAULT_CALLBACK_ENTRY_TTL,
    DEFAULT_CALLBACK_INBOX_TTL,
    MAX_NOTICES_PER_LAUNCH,
)
from .._validation import require_number, require_slug
from ..callbacks import CallbackStoreError, InboxNotice, SharedLaunch, Verdict
from ..errors import InvalidCallbackError
from ..models.callbacks import RunCallback
from ._common import FAILURES, check_key_part, check_redis

__all__ = ["RedisCallbackStore"]

_T = TypeVar("_T")

# KEYS: 1 launch, 2 notices, 3 run key of the notice's run (unused without one), 4 owner's inbox.
# ARGV: 1 launch key, 2 owner, 3 recorder, 4 run id ('' = none), 5 status id, 6 entry,
# 7 most notices, 8 inbox max length, 9 inbox lifetime (ms).
# Returns 0 accepted, 1 duplicate, 2 another run, 3 too many notices, 4 unknown.
_RECORD = """
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner or owner ~= ARGV[2] then
  return 4
end
local bound = redis.call('HGET', KEYS[1], 'run')
if ARGV[4] ~= '' and bound and bound ~= ARGV[4] then
  return 2
end
local entries = redis.call('LRANGE', KEYS[2], 0, -1)
for _, entry in ipairs(entries) do
  local first = string.find(entry, '\\n', 1, true)
  local second = string.find(entry, '\\n', first + 1, true)
  if string.sub(entry, first + 1, second - 1) == ARGV[5] then
    return 1
  end
end
if #entries >= tonumber(ARGV[7]) then
  return 3
end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('RPUSH', KEYS[2], ARGV[6])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[2], ttl)
end
if ARGV[4] ~= '' then
  if ttl > 0 then
    redis.call('SET', KEYS[3], ARGV[1], 'PX', ttl, 'NX')
  else
    redis.call('SET', KEYS[3], ARGV[1], 'NX')
  end
end
if owner ~= ARGV[3] then
  local number = redis.call('HGET', KEYS[1], 'number')
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[8], '*',
             'launch', ARGV[1], 'number', number, 'entry', ARGV[6])
  if redis.call('PTTL', KEYS[4]) < 0 then
    redis.call('PEXPIRE', KEYS[4], ARGV[9])
  end
end
return 0
"""

# KEYS: 1 launch, 2 notices, 3 run key. ARGV: 1 launch key, 2 run id, 3 run slug (JSON).
# Returns 1 bound (now or before, to this run), 0 no such launch, -1 bound to another run.
# Notices recorded before that named another run are dropped, so that one cannot shadow the
# run's own notice of the same status.
_BIND = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local bound = redis.call('HGET', KEYS[1], 'run')
if bound then
  if bound == ARGV[2] then
    return 1
  end
  return -1
end
redis.call('HSET', KEYS[1], 'run', ARGV[2], 'run_slug', ARGV[3])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('SET', KEYS[3], ARGV[1], 'PX', ttl)
else
  redis.call('SET', KEYS[3], ARGV[1])
end
local entries = redis.call('LRANGE', KEYS[2], 0, -1)
local kept = {}
for _, entry in ipairs(entries) do
  local run = string.sub(entry, 1, string.find(entry, '\\n', 1, true) - 1)
  if run == '' or run == ARGV[2] then
    kept[#kept + 1] = entry
  end
end
if #kept < #entries then
  redis.call('DEL', KEYS[2])
  if #kept > 0 then
    redis.call('RPUSH', KEYS[2], unpack(kept))
    if ttl > 0 then
      redis.call('PEXPIRE', KEYS[2], ttl)
    end
  end
end
return 1
"""

# KEYS: 1 launch. ARGV: 1 owner, 2 number, 3 label (JSON, '' = none), 4 lifetime (ms).
_REGISTER = """
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'number', ARGV[2])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'label', ARGV[3])
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS: 1 inbox. ARGV: 1 lifetime (ms), 2 first id to keep ('' = keep all).
# Drops the messages already taken and keeps the inbox alive while its reader reads it.
_KEEP_INBOX = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if ARGV[2] ~= '' then
  redis.call('XTRIM', KEYS[1], 'MINID', ARGV[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""

_PLAIN = re.compile(r"[A-Za-z0-9._~/:-]{1,100}")
_MESSAGE_ID = re.compile(r"(\d+)-(\d+)")
_VERDICTS = {
    0: Verdict.ACCEPTED,
    1: Verdict.DUPLICATE,
    2: Verdict.MISMATCHED,
    3: Verdict.OVER_LIMIT,
    4: Verdict.GONE,
}


def _ident(text: str | None) -> str:
    """A sender-supplied run slug or status as it appears in keys and comparisons ('' for none)."""
    if text is None:
        return ""
    if _PLAIN.fullmatch(text):
        return text
    return "#" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, (bytes, bytearray)) else str(value)


def _json(value: Any) -> str:
    # ASCII only (escapes for the rest), and never a newline: the entry format relies on it.
    return json.dumps(value, separators=(",", ":"), default=str)


def _entry(notice: RunCallback) -> str:
    """A notice as stored: its run id, its status id, then the JSON of when it came and its body."""
    body = _json({"at": notice.received_at.timestamp(), "raw": dict(notice.raw)})
    return f"{_ident(notice.run_slug)}\n{_ident(notice.run_status)}\n{body}"


def _notice(entry: Any) -> RunCallback | None:
    """The notice of a stored entry (run and label not filled in), or ``None`` if it cannot be read."""
    try:
        _, _, body = _text(entry).split("\n", 2)
        decoded = json.loads(body)
        notice = RunCallback.parse(decoded["raw"])
        at = datetime.fromtimestamp(float(decoded["at"]), tz=timezone.utc)
    except (ValueError, KeyError, TypeError, OverflowError, OSError, InvalidCallbackError):
        return None
    return attrs.evolve(notice, received_at=at)


def _stream_entries(node: Any) -> Iterator[tuple[Any, Any]]:
    """The ``(id, fields)`` pairs of an XREAD reply, in whichever shape redis-py gives it."""
    if isinstance(node, Mapping):
        for value in node.values():
            yield from _stream_entries(value)
    elif isinstance(node, (list, tuple)):
        first = node[0] if len(node) == 2 else None
        if isinstance(first, (bytes, str)) and _MESSAGE_ID.fullmatch(_text(first)):
            yield first, node[1]
            return
        for item in node:
            yield from _stream_entries(item)


def _fields(raw: Any) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return {_text(k): v for k, v in raw.items()}
    return {_text(raw[i]): raw[i + 1] for i in range(0, len(raw) - 1, 2)}


def _after(message_id: str) -> str:
    """The first id after ``message_id``, or '' when there is none to trim before."""
    match = _MESSAGE_ID.fullmatch(message_id)
    return f"{match[1]}-{int(match[2]) + 1}" if match else ""


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class RedisCallbackStore:
    """Launches shared by the callback receivers of every process given a store of the same Redis and prefix.

    Pass it as ``CallbackReceiver(..., store=store)`` in each worker process behind one
    public URL. A notice reaching any process is checked against the launches of all of them
    (unknown or forged tokens still get 404, oversized 413, malformed 400, another run's
    notice 409, too many 429), recorded once for all (the first notice of a status wins,
    wherever it arrived), and delivered in the process that minted its launch, where
    ``runs.wait(receiver=)``, ``Launch.wait()`` and your ``on_callback`` handlers see it as if
    it had come there. Notices stay readable (:meth:`final_notice`, :meth:`notices`) after
    that process is gone, until the launch's entry expires.

    Args:
        redis: a ``redis.asyncio.Redis`` client (yours: the store never closes it). Each
            receiver's inbox reader holds one of its pooled connections in ``XREAD BLOCK``
            for up to a second at a time.
        prefix: keys are ``{<prefix>}:...``; receivers share launches when their stores have
            the same Redis and prefix.
        entry_ttl: seconds a launch's entry (and its notices) is kept after its mint; keep it
            at or above the receivers' ``launch_ttl`` plus ``finished_retention`` (the default
            is both defaults together, 49 hours).
        inbox_ttl: seconds a receiver's inbox outlives its last read (its process gone, or its
            event loop stopped).

    Raises:
        InvalidParameterError: a bad argument.

    Example::

        import redis.asyncio as redis
        from coreclaw_async.redis import RedisCallbackStore

        store = RedisCallbackStore(redis.Redis.from_url("redis://localhost"))
        receiver = CallbackReceiver(public_url="https://example.com/coreclaw", store=store)
    """

    def __init__(
        self,
        redis: Any,
        *,
        prefix: str = CALLBACK_STORE_KEY_PREFIX,
        entry_ttl: float = DEFAULT_CALLBACK_ENTRY_TTL,
        inbox_ttl: float = DEFAULT_CALLBACK_INBOX_TTL,
    ) -> None:
        self._redis = check_redis(redis, "xread")
        self.prefix = check_key_part("prefix", prefix)
        self.entry_ttl = require_number("entry_ttl", entry_ttl, minimum=0.001)
        self.inbox_ttl = require_number("inbox_ttl", inbox_ttl, minimum=0.001)
        self._base = f"{{{self.prefix}}}"
        self._record = redis.register_script(_RECORD)
        self._bind = redis.register_script(_BIND)
        self._register = redis.register_script(_REGISTER)
        self._keep_inbox = redis.register_script(_KEEP_INBOX)
        # XREAD BLOCK must end within the client's socket timeout, or every read would fail.
        kwargs = getattr(getattr(redis, "connection_pool", None), "connection_kwargs", None)
        socket_timeout = kwargs.get("socket_timeout") if isinstance(kwargs, Mapping) else None
        self._longest_block = socket_timeout / 2 if isinstance(socket_timeout, (int, float)) else None

    def __repr__(self) -> str:
        return f"<RedisCallbackStore prefix={self.prefix!r} entry_ttl={self.entry_ttl:g}>"

    # -- keys ----------------------------------------------------------------------------

    def _launch_key(self, key: str) -> str:
        return f"{self._base}:launch:{key}"

    def _notices_key(self, key: str) -> str:
        return f"{self._base}:notices:{key}"

    def _run_key(self, run_id: str) -> str:
        return f"{self._base}:run:{run_id}"

    def _inbox_key(self, owner: str) -> str:
        return f"{self._base}:inbox:{owner}"

    # -- what a receiver asks (CallbackStore) ------------------------------------------------

    async def register(self, launch_key: str, *, owner: str, number: int, label: str | None) -> None:
        """Make a new launch known to every receiver of the store."""
        await self._register(
            keys=[self._launch_key(launch_key)],
            args=[owner, number, "" if label is None else _json(label), _milliseconds(self.entry_ttl)],
        )

    async def bind(self, launch_key: str, run_slug: str) -> bool:
        """Tie a launch to its run; ``False`` if there is no such launch or it is bound to another run."""
        run_id = _ident(run_slug)
        done = await self._bind(
            keys=[self._launch_key(launch_key), self._notices_key(launch_key), self._run_key(run_id)],
            args=[launch_key, run_id, _json(run_slug)],
        )
        return int(done) == 1

    async def discard(self, launch_key: str) -> None:
        """Forget a launch: notices to it are unknown from now on, in every process."""
        await self._redis.delete(self._launch_key(launch_key), self._notices_key(launch_key))

    async def lookup(self, launch_key: str) -> SharedLaunch | None:
        """The launch a key names, or ``None``."""
        owner, number, run_slug = await self._redis.hmget(
            self._launch_key(launch_key), ["owner", "number", "run_slug"]
        )
        if owner is None or number is None:
            return None
        return SharedLaunch(
            _text(owner), int(_text(number)), None if run_slug is None else json.loads(_text(run_slug))
        )

    async def record(self, launch_key: str, notice: RunCallback, *, owner: str, recorder: str) -> Verdict:
        """Offer a notice to a launch of ``owner``, taken by ``recorder``; atomically (see the module)."""
        run_id = _ident(notice.run_slug)
        code = await self._record(
            keys=[
                self._launch_key(launch_key),
                self._notices_key(launch_key),
                self._run_key(run_id),
                self._inbox_key(owner),
            ],
            args=[
                launch_key,
                owner,
                recorder,
                run_id,
                _ident(notice.run_status),
                _entry(notice),
                MAX_NOTICES_PER_LAUNCH,
                CALLBACK_INBOX_MAX_LENGTH,
                _milliseconds(self.inbox_ttl),
            ],
        )
        return _VERDICTS[int(code)]

    async def read_inbox(self, owner: str, *, after: str, block: float) -> Sequence[InboxNotice]:
        """The notices in ``owner``'s inbox after ``after``, waiting up to ``block`` seconds for one."""
        inbox = self._inbox_key(owner)
        await self._keep_inbox(keys=[inbox], args=[_milliseconds(self.inbox_ttl), _after(after)])
        if self._longest_block is not None:
            block = min(block, self._longest_block)
        reply = await self._redis.xread(
            {inbox: after}, count=CALLBACK_INBOX_BATCH, block=_milliseconds(block)
        )
        messages: list[InboxNotice] = []
        for message_id, raw in _stream_entries(reply):
            fields = _fields(raw)
            try:
                number = int(_text(fields.get("number")))
                notice = _notice(fields["entry"])
            except (ValueError, KeyError):
                # Not written by this store: read past it.
                number, notice = -1, None
            messages.append(InboxNotice(_text(message_id), _text(fields.get("launch", "")), number, notice))
        return messages

    # -- reading what was recorded --------------------------------------------------------

    async def notices(self, run_slug: str) -> tuple[RunCallback, ...]:
        """Every notice recorded for ``run_slug`` (in arrival order), whichever process took it.

        Found through the launch the run was bound to (or first notified about); empty when
        there is none, or its entry expired. Each notice carries its launch's label and the
        time it arrived.

        Raises:
            InvalidParameterError: a blank slug.
            CallbackStoreError: Redis could not be reached within ``CALLBACK_STORE_TIMEOUT``.
        """
        slug = require_slug("run_slug", run_slug)
        key = await self._bounded(self._redis.get(self._run_key(_ident(slug))))
        if key is None:
            return ()
        key = _text(key)
        bound, label = await self._bounded(self._redis.hmget(self._launch_key(key), ["run_slug", "label"]))
        entries = await self._bounded(self._redis.lrange(self._notices_key(key), 0, -1))
        bound_slug = None if bound is None else json.loads(_text(bound))
        label_text = None if label is None else json.loads(_text(label))
        found: list[RunCallback] = []
        for entry in entries:
            notice = _notice(entry)
            if notice is None or (notice.run_slug or bound_slug) != slug:
                continue
            found.append(attrs.evolve(notice, run_slug=slug, label=label_text))
        return tuple(found)

    async def final_notice(self, run_slug: str) -> RunCallback | None:
        """The first final notice recorded for ``run_slug``, by any process; ``None`` if none (or expired).

        For a run whose launch was minted by a process that is gone, or to read a run's end
        from a process that did not start it.

        Raises:
            InvalidParameterError: a blank slug.
            CallbackStoreError: Redis could not be reached within ``CALLBACK_STORE_TIMEOUT``.

        Example::

            notice = await store.final_notice(run_slug)
            if notice is not None and notice.succeeded:
                ...
        """
        return next((notice for notice in await self.notices(run_slug) if notice.is_final), None)

    async def _bounded(self, operation: Awaitable[_T]) -> _T:
        try:
            return await asyncio.wait_for(operation, CALLBACK_STORE_TIMEOUT)
        except FAILURES as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise CallbackStoreError(f"The callback store could not be read ({reason})") from exc
