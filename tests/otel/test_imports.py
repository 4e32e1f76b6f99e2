"""What is imported, and what telemetry a client has, with and without OpenTelemetry.

Each case runs in a fresh interpreter: the question is what ``sys.modules`` holds, and the
global providers can be set only once per process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from coreclaw_async import AsyncCoreClaw, InvalidParameterError
from coreclaw_async.otel import Telemetry

# Makes OpenTelemetry look absent: its modules cannot be found or imported.
BLOCKER = """
import sys

class _NoOpenTelemetry:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoOpenTelemetry())
"""

LOADED = "sorted(m for m in sys.modules if m == 'opentelemetry' or m.startswith('opentelemetry.'))"


def _run(code: str) -> Any:
    """Run ``code`` in a fresh interpreter; return the JSON it prints last."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_package_imports_no_opentelemetry_module() -> None:
    loaded = _run(f"import json, sys, coreclaw_async, coreclaw_async.testing\nprint(json.dumps({LOADED}))")

    assert loaded == []


def test_without_opentelemetry_a_client_works_and_imports_none_of_it() -> None:
    code = (
        BLOCKER
        + f"""
import asyncio, json
from coreclaw_async import AsyncCoreClaw
from coreclaw_async.testing import FakeCoreClaw

async def main():
    async with FakeCoreClaw(api_versions=("v1",)) as fake:
        async with AsyncCoreClaw(fake.api_key, base_url=fake.url) as client:
            await client.account.info()
            return (await client.tasks.run(fake.add_task(), callback_url="https://h.example.com/x")).run_slug

slug = asyncio.run(main())
errors = []
try:
    AsyncCoreClaw("key", telemetry=True)
except ImportError as exc:
    errors.append(str(exc))
try:
    import coreclaw_async.otel
except ImportError as exc:
    errors.append(str(exc))
print(json.dumps({{"slug": slug, "errors": errors, "loaded": {LOADED}}}))
"""
    )
    result = _run(code)

    assert result["slug"]
    assert result["loaded"] == []
    assert len(result["errors"]) == 2
    assert all("pip install 'coreclaw-async[otel]'" in error for error in result["errors"])


def test_an_opentelemetry_namespace_without_the_api_leaves_the_default_off(tmp_path: Path) -> None:
    # e.g. opentelemetry-proto installed alone: an "opentelemetry" package, but no API in it.
    (tmp_path / "opentelemetry" / "proto").mkdir(parents=True)
    (tmp_path / "opentelemetry" / "proto" / "__init__.py").write_text("")
    blocker = BLOCKER.replace(
        'name == "opentelemetry" or name.startswith("opentelemetry.")',
        'name.startswith("opentelemetry.trace")',
    )
    code = (
        f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\n"
        + blocker
        + """
import json
from coreclaw_async import AsyncCoreClaw
client = AsyncCoreClaw("key")
print(json.dumps({"observer": client._manager.observer is None}))
"""
    )

    assert _run(code) == {"observer": True}


def test_with_global_providers_a_client_records_spans_by_default_and_none_when_turned_off() -> None:
    code = """
import asyncio, json
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from coreclaw_async import AsyncCoreClaw
from coreclaw_async.testing import FakeCoreClaw

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

async def main():
    async with FakeCoreClaw(api_versions=("v1",)) as fake:
        for telemetry in (None, True, False):
            async with AsyncCoreClaw(fake.api_key, base_url=fake.url, telemetry=telemetry) as client:
                await client.account.info()
                await client.proxy_regions()

asyncio.run(main())
print(json.dumps([span.name for span in exporter.get_finished_spans()]))
"""
    names = _run(code)

    assert names == ["account.info", "proxy.regions", "account.info", "proxy.regions"]


@pytest.mark.parametrize("value", [1, "on", object()])
def test_a_telemetry_value_of_another_kind_is_refused(value: Any) -> None:
    with pytest.raises(InvalidParameterError, match="must be None, True, False or a") as caught:
        AsyncCoreClaw("key", telemetry=value)

    assert caught.value.field == "telemetry"


@pytest.mark.parametrize("argument", ["tracer_provider", "meter_provider"])
def test_a_provider_of_another_kind_is_refused(argument: str) -> None:
    with pytest.raises(InvalidParameterError, match="must be an opentelemetry") as caught:
        Telemetry(**{argument: object()})  # type: ignore[arg-type]

    assert caught.value.field == argument
