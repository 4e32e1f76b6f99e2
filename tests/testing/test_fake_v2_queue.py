"""The v2 run queue: queued runs wait until activated, activation is refused while runs cannot start,
release makes items inactive, and the queue lists by page and status."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import MAPS, MAPS_V2, V2, V2_INPUT

QUEUE = f"workers/{MAPS_V2}/queued-runs"


async def queue(v2: V2, **body: Any) -> str:
    reply = await v2.post(QUEUE, {"input": V2_INPUT, **body})
    return str(reply.data["queue_ref"])


async def test_a_queued_run_answers_its_ref_waiting_and_starts_nothing(v2: V2) -> None:
    reply = await v2.post(QUEUE, {"input": V2_INPUT, "callback_url": "https://cb.test/q", "is_async": False})
    data = reply.data
    assert set(data) == {"queue_ref", "queue_status", "queued"}
    assert (data["queue_status"], data["queued"]) == ("waiting", True)
    assert data["queue_ref"].isdigit()
    assert v2.fake.runs == []
    [item] = v2.fake.queue_items
    assert (item.ref, item.status, item.scraper_slug, item.callback_url) == (
        data["queue_ref"],
        "waiting",
        MAPS,
        "https://cb.test/q",
    )


async def test_a_run_the_platform_refuses_now_can_still_be_queued(v2: V2) -> None:
    v2.fake.set_balance("0")
    assert (await v2.post(f"workers/{MAPS_V2}/runs", {"input": V2_INPUT})).code == 30001
    assert (await v2.post(QUEUE, {"input": V2_INPUT})).code == 0
    v2.fake.set_balance("1")
    v2.fake.set_concurrency_limit(0)
    assert (await v2.post(f"workers/{MAPS_V2}/runs", {"input": V2_INPUT})).code == 30003
    assert (await v2.post(QUEUE, {"input": V2_INPUT})).code == 0
    assert v2.fake.runs == []


async def test_queueing_checks_the_worker_version_and_input_like_a_run(v2: V2) -> None:
    assert (await v2.post("workers/nobody~x/queued-runs", {"input": V2_INPUT})).code == 50001
    assert (await v2.post(QUEUE, {"input": V2_INPUT, "version": "v9"})).code == 50003
    assert (await v2.post(QUEUE, {"input": {"searchTerms": ["flat"]}})).code == 11000
    assert (await v2.post(QUEUE, {})).code == 11000
    assert v2.fake.queue_items == []


async def test_activation_starts_a_run_from_the_item_and_it_leaves_the_queue(v2: V2) -> None:
    ref = await queue(v2, version="v1.0.4", callback_url="https://cb.test/a")
    reply = await v2.post("run-queue/items/activate", {"queue_refs": [ref]})
    assert reply.data == {"results": [{"queue_ref": ref, "success": True}]}
    [run] = v2.fake.runs
    assert (run.version, run.input, run.callback_url, run.scraper_slug) == (
        "v1.0.4",
        V2_INPUT,
        "https://cb.test/a",
        MAPS,
    )
    [item] = v2.fake.queue_items
    assert (item.status, item.run_slug) == ("activated", run.slug)
    assert (await v2.get("run-queue/items")).data["count"] == 0
    again = await v2.post("run-queue/items/activate", {"queue_refs": [ref]})
    assert again.data == {"results": [{"queue_ref": ref, "success": False}]}
    assert len(v2.fake.runs) == 1


async def test_activation_is_refused_per_item_while_the_balance_is_zero_or_the_plan_full(v2: V2) -> None:
    first, second = await queue(v2), await queue(v2)
    v2.fake.set_balance("0")
    refused = await v2.post("run-queue/items/activate", {"queue_refs": [first, second]})
    assert [result["success"] for result in refused.data["results"]] == [False, False]
    assert v2.fake.runs == []
    v2.fake.set_balance("3")
    v2.fake.run_schedule = (0.0, 30.0)
    v2.fake.set_concurrency_limit(1)
    mixed = await v2.post("run-queue/items/activate", {"queue_refs": [first, second, "999999"]})
    assert [(r["queue_ref"], r["success"]) for r in mixed.data["results"]] == [
        (first, True),
        (second, False),
        ("999999", False),
    ]
    waiting = (await v2.get("run-queue/items", {"status": "waiting"})).data
    assert [item["queue_ref"] for item in waiting["list"]] == [second]


async def test_bulk_release_makes_items_inactive_with_the_reason(v2: V2) -> None:
    first, second = await queue(v2), await queue(v2)
    reply = await v2.post("run-queue/items/release", {"queue_refs": [first, "404404"], "reason": "not today"})
    assert reply.data == {
        "results": [
            {"queue_ref": first, "success": True},
            {"queue_ref": "404404", "success": False, "error": "queue item not found"},
        ]
    }
    inactive = (await v2.get("run-queue/items", {"status": "inactive"})).data["list"]
    assert [(item["queue_ref"], item["reason"]) for item in inactive] == [(first, "not today")]
    activate = await v2.post("run-queue/items/activate", {"queue_refs": [first]})
    assert activate.data["results"][0]["success"] is False
    assert [
        item["queue_ref"] for item in (await v2.get("run-queue/items", {"status": "waiting"})).data["list"]
    ] == [second]


async def test_releasing_one_item_answers_no_data_and_twice_is_not_found(v2: V2) -> None:
    ref = await queue(v2)
    first = await v2.post(f"run-queue/items/{ref}/release")
    assert first.code == 0
    assert "data" not in first.body
    second = await v2.post(f"run-queue/items/{ref}/release", {"reason": "again"})
    assert (second.status, second.code) == (404, 11004)
    assert (await v2.post("run-queue/items/12345/release")).code == 11004
    [item] = v2.fake.queue_items
    assert (item.status, item.reason) == ("inactive", "")


async def test_the_queue_lists_by_page_oldest_first_and_echoes_the_page(v2: V2) -> None:
    refs = [await queue(v2) for _ in range(5)]
    await v2.post(f"run-queue/items/{refs[0]}/release")
    everything = (await v2.get("run-queue/items")).data
    assert set(everything) == {"count", "list", "page_index", "page_size"}
    assert [item["queue_ref"] for item in everything["list"]] == refs
    item = everything["list"][1]
    assert (item["queue_status"], item["worker_path"], item["version"], item["input"]) == (
        "waiting",
        MAPS_V2,
        "v1.0.5",
        V2_INPUT,
    )
    page = (await v2.get("run-queue/items", {"offset": "2", "limit": "2"})).data
    assert (page["count"], page["page_index"], page["page_size"]) == (5, 2, 2)
    assert [item["queue_ref"] for item in page["list"]] == refs[2:4]
    waiting = (await v2.get("run-queue/items", {"status": "waiting", "limit": "100"})).data
    assert waiting["count"] == 4
    assert (await v2.get("run-queue/items", {"offset": "9"})).data["list"] == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("run-queue/items/activate", {}),
        ("run-queue/items/activate", {"queue_refs": []}),
        ("run-queue/items/activate", {"queue_refs": "1"}),
        ("run-queue/items/activate", {"queue_refs": [200001]}),
        ("run-queue/items/release", {"queue_refs": [""]}),
        ("run-queue/items/release", {"queue_refs": ["1"], "reason": 3}),
    ],
)
async def test_queue_refs_must_be_a_non_empty_list_of_strings(
    v2: V2, path: str, body: dict[str, Any]
) -> None:
    reply = await v2.post(path, body)
    assert (reply.status, reply.code) == (422, 11000)


async def test_the_queue_status_filter_is_waiting_or_inactive(v2: V2) -> None:
    reply = await v2.get("run-queue/items", {"status": "activated"})
    assert (reply.status, reply.code) == (422, 11000)
