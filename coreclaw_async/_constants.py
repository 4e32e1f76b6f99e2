"""Every default of coreclaw-async in one place, each with the reason it has that value."""

from __future__ import annotations

# Production host of the CoreClaw OpenAPI; override with CORECLAW_BASE_URL.
DEFAULT_BASE_URL = "https://openapi.coreclaw.com"

# The API version a client speaks unless told otherwise: v1, the contract this library was
# built on; CoreClaw announced v1's retirement (no date) and documents v2 as current.
DEFAULT_API_VERSION = "v1"
API_VERSIONS = ("v1", "v2")

# Environment variables read when the constructor is not given a value.
ENV_API_KEY = "CORECLAW_API_KEY"
ENV_API_VERSION = "CORECLAW_API_VERSION"
ENV_BASE_URL = "CORECLAW_BASE_URL"
ENV_CALLBACK_URL = "CORECLAW_CALLBACK_URL"

# One deadline for a whole call (all attempts and backoff sleeps); official clients use 30-60 s.
DEFAULT_TIMEOUT = 60.0

# Synchronous Worker runs keep the request open for up to 5 minutes (CoreClaw's documented
# cap), so their deadline is at least this long.
SYNC_RUN_TIMEOUT = 330.0

# How long a call may wait for a free pooled connection (and the TCP/TLS connect itself);
# a request that never got a connection was never sent, so it is always safe to retry.
DEFAULT_POOL_TIMEOUT = 10.0

# Size of the keep-alive pool shared by every call of one client.
DEFAULT_MAX_CONNECTIONS = 100

# Idle pooled connections are dropped after this long: below the 60-120 s idle cut-offs of
# common load balancers and servers, so we rarely reuse a socket the server is about to close.
KEEPALIVE_TIMEOUT = 15.0

# -- retries (RetryPolicy's defaults) ---------------------------------------------------

# Extra attempts after the first for failures that are safe to retry; 2 rides out a brief
# blip without turning an outage into minutes of waiting inside one call.
DEFAULT_MAX_RETRIES = 2

# Backoff ceilings in seconds: the first retry waits up to BACKOFF_BASE (full jitter), the
# ceiling doubling per retry up to BACKOFF_MAX; short, because most blips are sub-second.
DEFAULT_BACKOFF_BASE = 0.25
DEFAULT_BACKOFF_MAX = 8.0

# After a rate-limit answer without Retry-After the whole client waits about this long (the
# ceiling doubling per answer in a row); CoreClaw documents backoff from 1 s on 4290.
DEFAULT_RATE_LIMIT_BASE = 1.0

# A server's Retry-After is honoured up to this many seconds; beyond it the call would rather
# fail and let the caller decide than sleep for minutes inside one call.
DEFAULT_RETRY_AFTER_MAX = 30.0

# With wait_for_capacity, after a 30003 (plan concurrency full) the next probe start waits about
# CAPACITY_BACKOFF_BASE, doubling per refusal in a row up to CAPACITY_BACKOFF_MAX: runs last
# seconds to minutes, so polling faster only spends requests against the rate limit.
DEFAULT_CAPACITY_BACKOFF_BASE = 1.0
DEFAULT_CAPACITY_BACKOFF_MAX = 30.0

# Absolute URLs the session manager keeps parsed, by path; beyond this the cache starts over
# (paths with ids in them could otherwise grow it without bound).
URL_CACHE_SIZE = 1024

# aiohttp timeouts the session manager keeps, by whole milliseconds left to the deadline
# (attempts sent within the same millisecond share one); beyond this the cache starts over.
TIMEOUT_CACHE_SIZE = 256

# How much of a response body an error keeps for diagnostics.
BODY_EXCERPT_LIMIT = 512

# Header names on the wire.
API_KEY_HEADER = "api-key"
REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-coreclaw-request-id")

# Logger every message of the library goes to.
LOGGER_NAME = "coreclaw_async"

# -- runs, results and pagination -------------------------------------------------------

# Rows per `run/list` and `run/result/list` page when iterating; v1 documents no maximum,
# v2 caps pages at 100 and the official clients page by 100.
DEFAULT_RUN_PAGE_SIZE = 100
DEFAULT_RESULT_PAGE_SIZE = 100

# API v2 serves at most this many items per page (`limit` 1..100); larger pages are refused
# for a single page and split into pages of this size by the iterators.
V2_MAX_PAGE_SIZE = 100

# Safety bound on pages fetched by one iterator (1,000,000 rows at 100 per page); a server
# that never signals the end cannot keep an iterator going forever.
DEFAULT_MAX_PAGES = 10_000

# Key of the internal per-row id in result rows; used to recognise a
# page the server repeated because it ignored page_index.
ROW_ID_KEY = "__coreclaw_data_id__"

# -- waiting for a run ------------------------------------------------------------------

# runs.wait gives up after this long (its own deadline, not the per-call one); a Worker's
# default container limit is 1800 s and a run may sit in "ready" before it starts.
DEFAULT_WAIT_TIMEOUT = 3600.0

# First status check after the immediate one comes this soon, then the gap grows by
# WAIT_BACKOFF_FACTOR up to the poll interval (v2 docs: first check after ~2 s, then 5-15 s).
WAIT_FIRST_DELAY = 1.0
WAIT_BACKOFF_FACTOR = 1.6
DEFAULT_POLL_INTERVAL = 10.0

# Each gap is scaled by a random factor in [1 - WAIT_JITTER, 1 + WAIT_JITTER] so many
# waiters do not poll in lockstep.
WAIT_JITTER = 0.2

# When a wait's deadline passes, reads already in flight (bounded by the same deadline) get
# this long to report, so the WaitTimeoutError carries the last record or failure seen.
WAIT_SETTLE = 1.0

# runs.wait_many polls with this many tasks, whatever the number of runs.
DEFAULT_WAIT_MANY_POLLERS = 8

# A run showing status 5 (aborting) is polled this much longer, then returned as it is:
# v1 has no separate "aborted" value and a run may stay "aborting" indefinitely.
DEFAULT_ABORT_GRACE = 30.0

# -- fan-out ----------------------------------------------------------------------------

# Most asyncio tasks one fan-out (run_many) or one wait (wait_many) may run: each is a task of
# its own, and far below this the event loop, not the server, is what limits throughput.
MAX_CONCURRENCY = 10_000

# How many slugs a log line or error message names before it says "..." (a stopped batch's
# in-flight starts, the runs a wait gave up on).
LOGGED_SLUGS = 10

# -- exports and downloads --------------------------------------------------------------

# Formats v2 export accepts; v1 documents only csv and json.
EXPORT_FORMATS = ("csv", "json", "jsonl", "xlsx", "xls", "xml", "html", "rss")
DEFAULT_EXPORT_FORMAT = "json"

# One deadline for a whole download (all bytes); a large export can take minutes.
DEFAULT_DOWNLOAD_TIMEOUT = 600.0

# A download fails when no byte arrives for this long, even within its overall deadline.
DOWNLOAD_READ_TIMEOUT = 60.0

# Bytes read from the socket and written to the destination at a time.
DOWNLOAD_CHUNK_SIZE = 64 * 1024

# -- Workers ----------------------------------------------------------------------------

# `input.parameters.system` defaults, as Worker detail (`/api/scraper`) shows them.
DEFAULT_CPUS = 0.125
DEFAULT_MEMORY_MB = 512
DEFAULT_EXECUTE_LIMIT_SECONDS = 1800
MEMORY_CHOICES_MB = (512, 1024, 2048, 4096, 8192, 16384)

# The synchronous result window of `scraper/run`: default size 10, at most 1000 rows.
SYNC_RESULT_PAGE_SIZE = 10
SYNC_RESULT_MAX_PAGE_SIZE = 1000

# `/api/store` returns this many Workers unless asked otherwise.
DEFAULT_STORE_LIMIT = 10

# -- run callbacks ----------------------------------------------------------------------

# A notice is a few hundred bytes; anything above this is refused with 413 before parsing.
DEFAULT_CALLBACK_MAX_BODY = 64 * 1024

# Body bytes read at a time while enforcing that limit: a whole notice fits in one read.
CALLBACK_READ_CHUNK = 16 * 1024

# Random bytes in the secret part of a launch's URL token: 192 bits, unguessable.
CALLBACK_TOKEN_BYTES = 24

# Distinct statuses one launch may record. A run sends a handful (running, aborting, a final
# one); past this, notices to the token are refused (429) so a leaked token cannot make the
# receiver store or queue without limit.
MAX_NOTICES_PER_LAUNCH = 16

# Tasks running the receiver's handlers; a run's notices always go to the same one, in order.
DEFAULT_CALLBACK_HANDLER_TASKS = 8

# At most this many handler tasks (each has its own queue): beyond it a receiver spends more
# on idle tasks than on notices.
MAX_CALLBACK_HANDLER_TASKS = 1024

# A launch that never saw a final notice is forgotten this long after it was minted: longer
# than a run can sit queued plus the default 1800 s container limit, with a wide margin.
DEFAULT_LAUNCH_TTL = 48 * 3600.0

# A launch that saw its final notice is kept this long, so late duplicates still get 2xx.
DEFAULT_FINISHED_LAUNCH_RETENTION = 3600.0

# Launches kept at most (finished ones are evicted first, then the oldest unfinished): about
# 31 MB bare and 120 MB with a notice each (0.3 / 1.2 KB a launch), for 100,000 runs in flight.
DEFAULT_MAX_LAUNCHES = 100_000

# Expired launches forgotten per mint or notice, from the oldest end: a bounded step that
# still outpaces expiry, since each mint adds one launch to forget later.
CALLBACK_PRUNE_BUDGET = 32

# A receiver repeats a warning (notices to unknown tokens, launches evicted when full) at
# most this often, with the count since the last one, so a flood costs one line a minute.
CALLBACK_WARNING_INTERVAL = 60.0

# Longest sender-supplied text copied into a log line.
CALLBACK_LOGGED_CHARS = 64

# receiver.close() lets queued handlers finish for this long, then cancels them.
DEFAULT_RECEIVER_CLOSE_TIMEOUT = 5.0

# A standalone receiver's server gives open connections this long to finish when it stops.
CALLBACK_SERVER_SHUTDOWN_TIMEOUT = 1.0

# Keys of a RedisCallbackStore live under this prefix, written as a Redis Cluster hash tag
# ("{coreclaw:callbacks}:...") so that every key of one store sits in one slot.
CALLBACK_STORE_KEY_PREFIX = "coreclaw:callbacks"

# A launch's shared entry (and its notices) expires this long after its mint: the longest a
# receiver keeps a launch that never saw a final notice, plus the finished-launch retention,
# so the entry outlives every launch a receiver with the default limits still knows.
DEFAULT_CALLBACK_ENTRY_TTL = DEFAULT_LAUNCH_TTL + DEFAULT_FINISHED_LAUNCH_RETENTION

# A receiver's inbox (notices other processes took for its launches) expires this long after
# its reader last refreshed it: a process that is gone leaves nothing behind for longer, and
# its notices stay readable from the shared entries (store.final_notice) until those expire.
DEFAULT_CALLBACK_INBOX_TTL = 600.0

# An inbox keeps at most about this many messages (XADD MAXLEN ~): a reader takes each one
# within a second, so only an inbox whose process is gone ever comes near it.
CALLBACK_INBOX_MAX_LENGTH = 10_000

# One store operation (register, bind, look up, record) may take this long before the store
# counts as unreachable for it: a local Redis round trip takes well under a millisecond, so
# this is only reached when Redis is down or overloaded, and it bounds what one notice or one
# run start can lose to finding that out.
CALLBACK_STORE_TIMEOUT = 0.5

# After a store operation failed, the next ones fail at once for this long before Redis is
# tried again, so an outage costs each notice and each run start nothing more than a check.
CALLBACK_STORE_RETRY_INTERVAL = 1.0

# A receiver's inbox reader waits this long in one XREAD BLOCK (below redis-py's default
# 5 s socket timeout); each pass also refreshes the inbox's expiry.
CALLBACK_INBOX_BLOCK = 1.0

# Messages one read of the inbox takes at most.
CALLBACK_INBOX_BATCH = 100

# With a shared store, a receiver remembers this many final notices it accepted for other
# processes' launches (oldest forgotten first), so that its final_notice() and wait() see
# them too, also when the process that minted the launch is gone.
CALLBACK_MAX_FOREIGN_FINALS = 10_000

# After a failed read the inbox reader waits about this long, doubling per failure in a row
# up to the maximum: short enough that sharing resumes within seconds of Redis coming back.
CALLBACK_INBOX_RETRY_BASE = 0.1
CALLBACK_INBOX_RETRY_MAX = 2.0

# -- command line -----------------------------------------------------------------------

# `coreclaw-async demo`: enough runs to show the throughput and latency spread, on a pool
# smaller than the default 100 so that the connections-used line shows reuse, with 5 ms of
# fake server latency so the numbers look like a LAN rather than a loopback.
CLI_DEMO_RUNS = 1000
CLI_DEMO_MAX_CONNECTIONS = 50
CLI_DEMO_LATENCY = 0.005

# `runs list` shows this many runs unless told otherwise: a screenful.
CLI_RUNS_LIST_LIMIT = 20

# Table cells are cut to this many characters (result tables are narrower: more columns).
CLI_CELL_WIDTH = 60
CLI_RESULT_CELL_WIDTH = 30

# `tasks run-many`: launches in flight at most (and the client's connections), the seconds
# launches in flight get to come back after Ctrl-C, and the seconds between two plain
# progress lines of the batch commands (frequent enough to see it move in a CI log).
CLI_RUN_MANY_CONCURRENCY = 20
CLI_BATCH_GRACE = 5.0
CLI_PROGRESS_INTERVAL = 5.0

# -- shared budget (coreclaw_async.redis) -----------------------------------------------

# Keys of a RedisBudget live under this prefix, followed by the budget's name.
BUDGET_KEY_PREFIX = "coreclaw:budget"

# One Redis command of the budget may take this long before Redis counts as unreachable for
# it: a local round trip takes well under a millisecond, so this is only ever reached when
# Redis is down or overloaded, and it bounds what one request can lose to finding that out.
BUDGET_REDIS_TIMEOUT = 0.5

# While Redis is unreachable, the budget tries it again at most this often (the requests in
# between go on under the client's own limits, or fail at once with on_unavailable="raise").
BUDGET_RETRY_INTERVAL = 1.0

# A lease of max_in_flight lasts for its request's deadline plus this margin; a process that
# dies mid-request gives its slots back when they expire.
BUDGET_LEASE_MARGIN = 5.0

# Released leases are sent back to Redis with the next acquire of the process, or after
# this delay if none comes: one round trip per request instead of two.
BUDGET_RELEASE_DELAY = 0.02

# While max_in_flight is full, a waiting request asks again when a process announces freed
# slots on the budget's channel, or at the latest after a jittered pause that starts at
# BUDGET_FULL_POLL and doubles per ask up to BUDGET_FULL_POLL_MAX (an announcement can be
# missed: the listener reconnecting, or the slot lapsing instead of being released).
BUDGET_FULL_POLL = 0.25
BUDGET_FULL_POLL_MAX = 2.0

# Released leases waiting to go back to Redis (while it is unreachable) are kept up to this
# many; older ones are dropped and lapse in Redis on their own.
BUDGET_MAX_PENDING_RELEASES = 100_000

# Redis's connection pool is capped and every connection is busy: the ask waits this long
# (jittered) and tries again within its deadline; a busy pool is not an outage.
BUDGET_POOL_BUSY_PAUSE = 0.005
