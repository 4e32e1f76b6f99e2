"""Per-call cost of the model layer, in microseconds, against what the raw floor does instead.

Usage::

    python benchmarks/model_overhead.py            # ~10 s
    python benchmarks/model_overhead.py --quick    # ~2 s

``timeit``-style loops, no I/O. Each row is one step of a ``tasks.run`` call; the variants are
timed in interleaved rounds (A B C ... A B C ...) and the median per call is reported:

* encode, ours: ``converter.unstructure(TaskRunRequest)`` then ``_json.dumps`` (what
  ``SessionManager.call`` does); floor: ``orjson.dumps`` of a literal dict.
* decode, ours: ``_envelope.unwrap`` then ``TASK_RUN.parse(data)`` (what the pipeline does:
  the cattrs structure hook for ``StartedRun``, looked up once); floor: ``orjson.loads``,
  ``code == 0``, ``data.run_slug``.
* prepare, ours: ``client.tasks.prepare(slug)`` (slug validation, building the request model;
  the client's default callback URL was validated once, when the client was built), which
  the floor skips entirely.
* parts: the pieces of the above on their own, to show where the difference sits.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from collections.abc import Callable
from typing import Any

import orjson
from _contenders import _envelope_slug
from _harness import CALLBACK_URL, median

TASK_SLUG = "01KSFDXRNYGKT3NNE11EMR4W5X"
API_KEY = "scraper_api_benchmark_stub_key"
RUN_PATH = "/api/v1/task/run"
RESPONSE = b'{"code":0,"message":"success","data":{"run_slug":"01KSFDS8XWTJME33C000000042"}}'
HEADERS = {"Content-Type": "application/json", "Content-Length": str(len(RESPONSE))}


def variants() -> list[tuple[str, str, Callable[[], Any]]]:
    """``(group, name, callable)`` for every timed step."""
    from coreclaw_async import AsyncCoreClaw
    from coreclaw_async._converter import converter
    from coreclaw_async._envelope import unwrap
    from coreclaw_async._json import dumps, loads
    from coreclaw_async._v1 import V1
    from coreclaw_async.models import StartedRun, TaskRunRequest

    # Building a client opens nothing: the session is created lazily in a running loop.
    tasks = AsyncCoreClaw(API_KEY, base_url="http://127.0.0.1:1", callback_url=CALLBACK_URL).tasks
    request = TaskRunRequest(task_slug=TASK_SLUG, callback_url=CALLBACK_URL)
    fields = converter.unstructure(request)
    data = orjson.loads(RESPONSE)["data"]
    parse = V1.ops.task_run.parse
    assert parse is not None

    def encode_ours() -> bytes:
        return dumps(converter.unstructure(request))

    def encode_floor() -> bytes:
        return orjson.dumps({"task_slug": TASK_SLUG, "callback_url": CALLBACK_URL})

    def decode_ours() -> Any:
        payload = unwrap(
            RESPONSE, http_status=200, method="POST", path=RUN_PATH, headers=HEADERS, secret=API_KEY
        )
        return parse(payload)

    def decode_floor() -> Any:
        return _envelope_slug(RESPONSE)

    def prepare_ours() -> Any:
        return tasks.prepare(TASK_SLUG)

    def unwrap_only() -> Any:
        return unwrap(
            RESPONSE, http_status=200, method="POST", path=RUN_PATH, headers=HEADERS, secret=API_KEY
        )

    return [
        ("encode", "ours: converter.unstructure + _json.dumps", encode_ours),
        ("encode", "floor: orjson.dumps(dict)", encode_floor),
        ("decode", "ours: _envelope.unwrap + ops.task_run.parse (StartedRun)", decode_ours),
        ("decode", "floor: orjson.loads + code check + data.run_slug", decode_floor),
        ("prepare", "ours: tasks.prepare(slug) (validation + model)", prepare_ours),
        ("part", "converter.unstructure(TaskRunRequest)", lambda: converter.unstructure(request)),
        ("part", "_json.dumps(fields)", lambda: dumps(fields)),
        ("part", "_envelope.unwrap(raw)", unwrap_only),
        ("part", "_json.loads(raw) (digit-run guard + orjson)", lambda: loads(RESPONSE)),
        ("part", "orjson.loads(raw)", lambda: orjson.loads(RESPONSE)),
        ("part", "converter.structure(data, StartedRun)", lambda: converter.structure(data, StartedRun)),
        ("part", "TaskRunRequest(...) construction", lambda: TaskRunRequest(TASK_SLUG, CALLBACK_URL)),
    ]


def measure(*, rounds: int, batch_seconds: float) -> list[dict[str, Any]]:
    """Time every variant in ``rounds`` interleaved rounds; one result dict per variant."""
    timed = variants()
    timers = [timeit.Timer(func) for _, _, func in timed]
    numbers = []
    for timer in timers:
        # Calibrate once so that one batch takes about batch_seconds.
        number, elapsed = timer.autorange()
        numbers.append(max(1, int(number * batch_seconds / max(elapsed, 1e-9))))
    per_call: list[list[float]] = [[] for _ in timed]
    for _ in range(rounds):
        for index, timer in enumerate(timers):
            per_call[index].append(timer.timeit(numbers[index]) / numbers[index] * 1e6)
    return [
        {"group": group, "name": name, "us_per_call": median(values), "rounds": values, "loops": number}
        for (group, name, _), values, number in zip(timed, per_call, numbers, strict=True)
    ]


def summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Model-layer overhead per call: what ours spends beyond the floor's encode and decode."""
    groups: dict[str, dict[str, float]] = {}
    for row in rows:
        side = row["name"].split(":", 1)[0]
        if side in ("ours", "floor"):
            groups.setdefault(row["group"], {})[side] = row["us_per_call"]
    ours = sum(g.get("ours", 0.0) for g in groups.values())
    floor = sum(g.get("floor", 0.0) for g in groups.values())
    return {"ours_us": ours, "floor_us": floor, "overhead_us": ours - floor}


def render(rows: list[dict[str, Any]]) -> str:
    """The rows as a text table."""
    lines = [f"{'step':8} {'what':58} {'us/call':>8}"]
    for row in rows:
        lines.append(f"{row['group']:8} {row['name']:58} {row['us_per_call']:8.2f}")
    total = summary(rows)
    lines.append(
        f"model layer per call: ours {total['ours_us']:.2f} us vs floor {total['floor_us']:.2f} us "
        f"-> overhead {total['overhead_us']:.2f} us"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    args = parser.parse_args()
    rows = measure(rounds=5 if args.quick else 9, batch_seconds=0.03 if args.quick else 0.1)
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
