"""The command line: account flags, ``--inject``, and ``/_fake/stats`` read from another process."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from coreclaw_async import AccountInfo, AsyncCoreClaw, RateLimitError, ServerError
from coreclaw_async.testing import Fault
from coreclaw_async.testing.__main__ import FaultSpec, build_fake, build_parser, main, parse_fault

from ..served_fake import served_fake


def test_every_account_and_callback_flag_reaches_the_fake() -> None:
    args = build_parser().parse_args(
        [
            "--rate-limit",
            "12.5",
            "--concurrency-limit",
            "4",
            "--no-concurrency-counts-ready",
            "--balance",
            "0",
            "--no-callbacks",
            "--callback-drop",
            "0.2",
            "--callback-duplicate",
            "0.1",
            "--callback-delay",
            "0.1",
            "0.5",
            "--callback-reorder",
            "0.3",
            "--callback-legacy-shape",
            "0.4",
            "--keepalive-timeout",
            "5",
            "--v2-missing-run-code",
            "11004",
        ]
    )
    assert args.keepalive_timeout == 5.0
    fake = build_fake(args)
    assert fake.rate_limit == 12.5
    assert (fake.concurrency_limit, fake.concurrency_counts_ready) == (4, False)
    assert fake.balance == "0"
    assert fake.v2_missing_run_code == 11004
    settings = fake.callback_settings
    assert settings.enabled is False
    assert (settings.drop, settings.duplicate, settings.delay) == (0.2, 0.1, (0.1, 0.5))
    assert (settings.reorder, settings.legacy_shape) == (0.3, 0.4)


def test_without_flags_the_fake_has_its_defaults() -> None:
    fake = build_fake(build_parser().parse_args([]))
    assert (fake.rate_limit, fake.concurrency_limit, fake.concurrency_counts_ready) == (None, None, True)
    assert fake.callback_settings.enabled is True
    assert fake.callback_settings.delay == (0.0, 0.0)
    assert build_parser().parse_args(["--concurrency-counts-ready"]).concurrency_counts_ready is True


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("rate_limit", FaultSpec(Fault.RATE_LIMIT, {})),
        (
            "RATE-LIMIT:times=inf,retry_after=1.5",
            FaultSpec(Fault.RATE_LIMIT, {"times": None, "retry_after": 1.5}),
        ),
        ("server_error:times=unlimited", FaultSpec(Fault.SERVER_ERROR, {"times": None})),
        (
            "slow:delay=0.5, user_agent=proc-3,path=/api/v1/*,probability=0.25,times=3",
            FaultSpec(
                Fault.SLOW,
                {"delay": 0.5, "user_agent": "proc-3", "path": "/api/v1/*", "probability": 0.25, "times": 3},
            ),
        ),
    ],
)
def test_inject_values_parse_into_inject_arguments(text: str, spec: FaultSpec) -> None:
    assert parse_fault(text) == spec
    assert build_parser().parse_args(["--inject", text, "--inject", "slow"]).inject == [
        spec,
        FaultSpec(Fault.SLOW, {}),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no_such_fault", "unknown fault"),
        ("slow:speed=2", "unknown key"),
        ("slow:times", "key=value"),
        ("slow:times=1,times=2", "key=value"),
        ("slow:times=0", "times"),
        ("slow:times=many", "invalid literal"),
        ("slow:probability=2", "probability"),
        ("slow:delay=-1", "delay"),
        ("slow:user_agent=", "user_agent"),
    ],
)
def test_an_invalid_inject_value_fails_parsing_with_a_message(
    text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--inject", text])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rate-limit", "0"], "rate_limit"),
        (["--concurrency-limit", "-1"], "limit"),
        (["--balance", "lots"], "decimal"),
        (["--callback-delay", "1", "2", "3"], "callback-delay"),
        (["--callback-drop", "1.5"], "callback_drop"),
    ],
)
def test_invalid_settings_exit_with_status_2_before_serving(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--port", "0"])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


async def test_a_served_fake_shares_its_limits_and_reports_stats_to_the_parent() -> None:
    async with served_fake(
        "--api-key",
        "scraper_api_cli",
        "--rate-limit",
        "5",
        "--concurrency-limit",
        "1",
        "--inject",
        "server_error:times=inf,user_agent=proc-9",
    ) as settings:
        url = settings["CORECLAW_BASE_URL"]
        clients = [
            AsyncCoreClaw(
                "scraper_api_cli", base_url=url, api_version="v1", max_retries=0, user_agent=f"proc-{n}"
            )
            for n in (1, 2)
        ]
        async with (
            clients[0],
            clients[1],
            AsyncCoreClaw(
                "scraper_api_cli", base_url=url, api_version="v1", max_retries=0, user_agent="proc-9"
            ) as aimed,
        ):
            results = await asyncio.gather(*(c.account.info() for c in clients * 15), return_exceptions=True)
            with pytest.raises(ServerError):
                await aimed.account.info()

        accepted = [result for result in results if isinstance(result, AccountInfo)]
        refused = [result for result in results if isinstance(result, RateLimitError)]
        assert len(accepted) + len(refused) == 30
        assert refused
        async with aiohttp.ClientSession(headers={"api-key": "scraper_api_cli"}) as http:
            for _ in range(2):  # reading the stats changes none of them
                async with http.get(url + "/_fake/stats") as resp:
                    assert resp.status == 200
                    stats = await resp.json()
                assert stats["requests"] == 31
                assert stats["requests_by_path"] == {"/api/v1/account/info": 31}
                assert stats["rate_limited"] == len(refused)
                assert (stats["rate_limit"], stats["concurrency_limit"]) == (5.0, 1)
                assert (stats["faults_applied"], stats["runs_created"]) == (1, 0)
            async with http.get(url + "/_fake/stats", headers={"api-key": "wrong"}) as resp:
                assert resp.status == 401
