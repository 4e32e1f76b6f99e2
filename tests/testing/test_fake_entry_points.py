"""`python -m coreclaw_async.testing` and the pytest plugin, each run as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import aiohttp

from coreclaw_async.testing import is_ulid

from ..served_fake import served_fake


async def test_module_serves_until_sigterm_and_prints_its_coordinates() -> None:
    async with served_fake("--api-key", "scraper_api_bench", "--tasks", "2", "--latency", "0") as settings:
        assert settings["CORECLAW_API_KEY"] == "scraper_api_bench"
        slugs = settings["CORECLAW_TASK_SLUGS"].split(",")
        assert len(slugs) == 2
        assert all(is_ulid(slug) for slug in slugs)
        url = settings["CORECLAW_BASE_URL"]
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                url + "/api/v1/task/run",
                json={"task_slug": slugs[0], "callback_url": "https://cb.example.com"},
                headers={"api-key": "scraper_api_bench"},
            ) as resp,
        ):
            assert (await resp.json())["code"] == 0


async def test_module_serves_only_the_api_versions_asked_for() -> None:
    async with served_fake("--api-key", "scraper_api_v2", "--api-versions", "v2") as settings:
        url = settings["CORECLAW_BASE_URL"]
        headers = {"Authorization": "Bearer scraper_api_v2", "api-key": "scraper_api_v2"}
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.get(url + "/api/v2/users/account") as resp:
                assert (await resp.json())["code"] == 0
            async with http.post(url + "/api/v1/account/info") as resp:
                assert resp.status == 404


def test_pytest_plugin_provides_a_started_fake(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\naddopts = --strict-markers\n"
    )
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["coreclaw_async.testing.pytest_plugin"]\n')
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import aiohttp
            import pytest

            async def test_default(coreclaw_fake):
                async with aiohttp.ClientSession() as http:
                    async with http.get(coreclaw_fake.url + "/api/proxy/region") as resp:
                        assert (await resp.json())["code"] == 0
                assert len(coreclaw_fake.task_slugs) == 3

            @pytest.mark.coreclaw_fake(tasks=1, api_key="scraper_api_marked")
            async def test_marker(coreclaw_fake):
                assert coreclaw_fake.api_key == "scraper_api_marked"
                assert len(coreclaw_fake.task_slugs) == 1

            @pytest.mark.coreclaw_fake(api_versions=("v2",))
            async def test_v2_only(coreclaw_fake):
                async with aiohttp.ClientSession() as http:
                    async with http.get(coreclaw_fake.url + "/api/v2/proxy/region") as resp:
                        assert (await resp.json())["code"] == 0
                    async with http.get(coreclaw_fake.url + "/api/proxy/region") as resp:
                        assert resp.status == 404
            """
        )
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
