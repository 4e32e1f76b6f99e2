"""Export and download over real HTTP: file contents, streaming, failures, and no API key to file hosts."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from coreclaw_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncCoreClaw,
    CoreClawAPIError,
    ExportLink,
    InvalidParameterError,
    NotFoundError,
)

from .support import serving, start_run

KEY = "scraper_api_download_test_key_0123"
ROW_KEYS = ["title", "url", "rating", "reviews", "address", "category"]


def _listing(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


async def _rows(client: AsyncCoreClaw, slug: str) -> list[dict[str, Any]]:
    return [{key: row[key] for key in ROW_KEYS} async for row in client.runs.results(slug, page_size=100)]


async def test_json_export_downloads_every_row_to_a_path(api_version: str, tmp_path: Path) -> None:
    async with serving(api_version, run_schedule=(0.0, 0.0), rows_per_run=1500) as (_, client):
        slug = await start_run(client)
        dest = tmp_path / "results.json"

        size = await client.runs.download(slug, dest)
        expected = await _rows(client, slug)

    assert size == dest.stat().st_size
    assert json.loads(dest.read_bytes()) == expected
    assert _listing(tmp_path) == ["results.json"]


async def test_csv_export_with_filter_keys_keeps_only_those_columns(api_version: str, tmp_path: Path) -> None:
    async with serving(api_version, run_schedule=(0.0, 0.0), rows_per_run=30) as (_, client):
        slug = await start_run(client)
        link = await client.runs.export(slug, format="csv", filter_keys=["title", "rating"])
        dest = tmp_path / "results.csv"

        size = await client.runs.download(link, str(dest))
        expected = await _rows(client, slug)

    table = list(csv.reader(io.StringIO(dest.read_text(encoding="utf-8"))))
    assert size > 0
    assert table[0] == ["title", "rating"]
    assert [row[0] for row in table[1:]] == [row["title"] for row in expected]
    assert any("Café" in row[0] for row in table[1:])


async def test_download_to_a_binary_file_object_and_to_an_async_writer(api_version: str) -> None:
    class AsyncSink:
        def __init__(self) -> None:
            self.chunks: list[bytes] = []

        async def write(self, data: bytes) -> None:
            self.chunks.append(data)

    async with serving(api_version, run_schedule=(0.0, 0.0), rows_per_run=40) as (_, client):
        slug = await start_run(client)
        buffer = io.BytesIO()
        sink = AsyncSink()

        first = await client.runs.download(slug, buffer, format="csv")
        second = await client.runs.download(slug, sink, format="csv")

    assert first == second == len(buffer.getvalue())
    assert b"".join(sink.chunks) == buffer.getvalue()


async def test_a_tampered_link_is_refused_and_leaves_no_file(api_version: str, tmp_path: Path) -> None:
    async with serving(api_version, run_schedule=(0.0, 0.0)) as (_, client):
        link = await client.runs.export(await start_run(client))
        signature = link.download_url.rsplit("q-signature=", 1)[1]
        forged = ExportLink(download_url=link.download_url.replace(signature, "0" * len(signature)))
        missing = ExportLink(download_url=link.download_url.replace("exported_result_", "nothing_"))

        with pytest.raises(CoreClawAPIError) as refused:
            await client.runs.download(forged, tmp_path / "x.json")
        with pytest.raises(NotFoundError):
            await client.runs.download(missing, tmp_path / "y.json")

    assert refused.value.http_status == 403
    assert "expired" in str(refused.value)
    assert "q-signature" not in str(refused.value)  # the signed query is a credential
    assert _listing(tmp_path) == []


async def test_download_rejects_a_relative_link(client: AsyncCoreClaw) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        await client.runs.download(ExportLink(download_url="/files/export/x.json"), io.BytesIO())

    assert caught.value.field == "download_url"


# -- a foreign file host ------------------------------------------------------------------


class FileHost:
    """A separate HTTP server playing the object store, recording what it was sent."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        self.failures_left = 0
        self.started_streaming = asyncio.Event()
        app = web.Application()
        app.router.add_get("/file.csv", self._file)
        app.router.add_get("/flaky.csv", self._flaky)
        app.router.add_get("/truncated.csv", self._truncated)
        app.router.add_get("/slow.csv", self._slow)
        self.server = TestServer(app, host="127.0.0.1")

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def _file(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        return web.Response(body=b"a,b\r\n1,2\r\n", content_type="text/csv")

    async def _flaky(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        if self.failures_left > 0:
            self.failures_left -= 1
            return web.Response(status=503, text="busy")
        return web.Response(body=b"ok\r\n", content_type="text/csv")

    async def _truncated(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "100000"})
        await response.prepare(request)
        await response.write(b"x" * 1000)
        assert request.transport is not None
        request.transport.close()
        return response

    async def _slow(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"y" * 1000)
        self.started_streaming.set()
        await asyncio.sleep(30)
        return response


@pytest.fixture
async def file_host() -> AsyncIterator[FileHost]:
    host = FileHost()
    async with host.server:
        yield host


class RedirectingApi:
    """Plays the API origin: ``/export`` redirects to the file host."""

    def __init__(self, target: str) -> None:
        self.headers: list[dict[str, str]] = []

        async def export(request: web.Request) -> web.Response:
            self.headers.append(dict(request.headers))
            raise web.HTTPFound(target)

        app = web.Application()
        app.router.add_get("/export", export)
        self.server = TestServer(app, host="127.0.0.1")


async def test_the_api_key_is_never_sent_to_a_foreign_file_host(
    file_host: FileHost, api_version: str
) -> None:
    async with AsyncCoreClaw(KEY, base_url="http://api.invalid", api_version=api_version) as client:
        size = await client.runs.download(ExportLink(download_url=file_host.url("/file.csv")), io.BytesIO())

    assert size == 10
    (sent,) = file_host.headers
    assert "api-key" not in {name.lower() for name in sent}
    assert "authorization" not in {name.lower() for name in sent}
    assert KEY not in json.dumps(sent)


async def test_a_redirect_from_the_api_host_to_a_file_host_drops_the_key_on_the_way(
    file_host: FileHost, api_version: str
) -> None:
    api = RedirectingApi(file_host.url("/file.csv"))
    async with api.server:
        base = str(api.server.make_url("")).rstrip("/")
        async with AsyncCoreClaw(KEY, base_url=base, api_version=api_version) as client:
            buffer = io.BytesIO()
            await client.runs.download(ExportLink(download_url=base + "/export"), buffer)

    assert buffer.getvalue() == b"a,b\r\n1,2\r\n"
    # The API's own origin may see the key, in the header of the client's version.
    name, value = ("api-key", KEY) if api_version == "v1" else ("Authorization", f"Bearer {KEY}")
    assert api.headers[0].get(name) == value
    assert not {"api-key", "authorization"} & {name.lower() for name in file_host.headers[0]}


async def test_a_failure_before_the_first_byte_is_retried(file_host: FileHost, api_version: str) -> None:
    file_host.failures_left = 1
    async with AsyncCoreClaw(KEY, base_url="http://api.invalid", api_version=api_version) as client:
        buffer = io.BytesIO()
        await client.runs.download(ExportLink(download_url=file_host.url("/flaky.csv")), buffer)

    assert buffer.getvalue() == b"ok\r\n"
    assert len(file_host.headers) == 2


async def test_a_truncated_transfer_fails_and_leaves_no_partial_file(
    file_host: FileHost, tmp_path: Path, api_version: str
) -> None:
    async with AsyncCoreClaw(KEY, base_url="http://api.invalid", api_version=api_version) as client:
        with pytest.raises(APIConnectionError):
            await client.runs.download(
                ExportLink(download_url=file_host.url("/truncated.csv")), tmp_path / "t.csv"
            )

    assert _listing(tmp_path) == []


async def test_cancelling_a_download_removes_the_partial_file(
    file_host: FileHost, tmp_path: Path, api_version: str
) -> None:
    async with AsyncCoreClaw(KEY, base_url="http://api.invalid", api_version=api_version) as client:
        task = asyncio.create_task(
            client.runs.download(ExportLink(download_url=file_host.url("/slow.csv")), tmp_path / "s.csv")
        )
        await asyncio.wait_for(file_host.started_streaming.wait(), 5)
        await asyncio.sleep(0.05)
        task.cancel()

        with pytest.raises(asyncio.CancelledError):
            await task

    assert _listing(tmp_path) == []


async def test_a_download_past_its_deadline_times_out(file_host: FileHost, api_version: str) -> None:
    async with AsyncCoreClaw(KEY, base_url="http://api.invalid", api_version=api_version) as client:
        with pytest.raises(APITimeoutError):
            await client.runs.download(
                ExportLink(download_url=file_host.url("/slow.csv")), io.BytesIO(), download_timeout=0.3
            )


async def test_without_client_middlewares_a_keyless_session_on_the_same_pool_is_used(
    file_host: FileHost, monkeypatch: pytest.MonkeyPatch, api_version: str
) -> None:
    # aiohttp < 3.12 has no per-request middlewares; the fallback must not leak the key either.
    monkeypatch.setattr("coreclaw_async._download._HAS_MIDDLEWARES", False)
    async with AsyncCoreClaw(KEY, base_url="http://api.invalid", api_version=api_version) as client:
        buffer = io.BytesIO()
        await client.runs.download(ExportLink(download_url=file_host.url("/file.csv")), buffer)

    assert buffer.getvalue() == b"a,b\r\n1,2\r\n"
    assert not {"api-key", "authorization"} & {name.lower() for name in file_host.headers[0]}


async def test_connection_errors_do_not_repeat_the_signed_query(api_version: str, tmp_path: Path) -> None:
    async with serving(api_version) as (_, client):
        link = ExportLink(download_url="http://127.0.0.1:9/file.csv?q-signature=SECRETSIGNATURE&q-ak=AK")

        with pytest.raises(APIConnectionError) as caught:
            await client.runs.download(link, tmp_path / "x.csv", max_retries=0)

    assert "SECRETSIGNATURE" not in str(caught.value)
    assert caught.value.path == "/file.csv"
