"""v2 wire rules: authentication, envelopes and request ids, HTTP statuses, ids in paths, bodies."""

from __future__ import annotations

import aiohttp
import pytest
from yarl import URL

from coreclaw_async.testing import FakeCoreClaw

from .conftest import MAPS, MAPS_V2, V2, V2_INPUT


async def test_the_key_is_accepted_as_bearer_api_key_header_or_token_query(v2: V2) -> None:
    key = v2.fake.api_key
    assert (await v2.get("users/account")).code == 0
    assert (await v2.get("users/account", key=False, headers={"api-key": key})).code == 0
    assert (await v2.get("users/account", {"token": key}, key=False)).code == 0
    assert (await v2.get("users/account", key=False, headers={"Authorization": f"bearer {key}"})).code == 0


async def test_no_key_is_12001_and_a_wrong_key_is_12002_both_with_http_401(v2: V2) -> None:
    missing = await v2.get("users/account", key=False)
    assert missing.status == 401
    assert (missing.body["code"], missing.body["message"]) == (12001, "authentication required")
    wrong = await v2.get("users/account", key="scraper_api_wrong")
    assert wrong.status == 401
    assert (wrong.body["code"], wrong.body["message"]) == (12002, "invalid token")
    basic = await v2.get("users/account", key=False, headers={"Authorization": "Basic abc"})
    assert basic.code == 12001
    assert (await v2.get("users/account", {"token": "nope"}, key=False)).code == 12002


@pytest.mark.parametrize(
    "path",
    ["proxy/region", "store", f"workers/{MAPS_V2}/input-schema"],
)
async def test_public_reads_need_no_key(v2: V2, path: str) -> None:
    assert (await v2.get(path, key=False)).code == 0


async def test_worker_detail_needs_the_key_unlike_v1(v2: V2) -> None:
    assert (await v2.get(f"workers/{MAPS_V2}", key=False)).code == 12001
    assert (await v2.get(f"workers/{MAPS_V2}")).code == 0


async def test_a_success_envelope_has_code_message_request_id_and_data(v2: V2) -> None:
    reply = await v2.get("users/account")
    assert reply.status == 200
    assert set(reply.body) == {"code", "message", "request_id", "data"}
    assert (reply.body["code"], reply.body["message"]) == (0, "success")


async def test_an_error_envelope_has_no_data_and_no_details(v2: V2) -> None:
    reply = await v2.get("worker-runs/01KKDXV2G26BT7NH4ZQR2R4NPZ")
    assert set(reply.body) == {"code", "message", "request_id"}


async def test_every_answer_has_its_own_request_id(v2: V2) -> None:
    replies = [await v2.get("users/account") for _ in range(3)]
    replies.append(await v2.get("users/account", key=False))
    replies.append(await v2.get("nothing/here"))
    ids = [reply.body["request_id"] for reply in replies]
    assert all(isinstance(request_id, str) and request_id for request_id in ids)
    assert len(set(ids)) == len(ids)


async def test_an_unknown_path_is_11004_with_http_404(v2: V2) -> None:
    reply = await v2.get("no/such/operation")
    assert reply.status == 404
    assert (reply.body["code"], reply.body["message"]) == (11004, "not found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "users/account"),
        ("GET", f"workers/{MAPS_V2}/runs"),
        ("GET", "worker-runs/01KKDXV2G26BT7NH4ZQR2R4NPZ/abort"),
        ("POST", "worker-runs/01KKDXV2G26BT7NH4ZQR2R4NPZ"),
        ("DELETE", "worker-runs/01KKDXV2G26BT7NH4ZQR2R4NPZ"),
    ],
)
async def test_a_known_path_asked_with_another_method_is_not_found(v2: V2, method: str, path: str) -> None:
    reply = await v2.request(method, path, body={})
    assert (reply.status, reply.code) == (404, 11004)


async def test_a_worker_is_found_by_owner_tilde_name_and_by_its_slug(v2: V2) -> None:
    by_path = (await v2.get(f"workers/{MAPS_V2}")).data
    [item] = (await v2.get("store", {"keyword": "google maps"})).data["scraper"]
    by_slug = (await v2.get(f"workers/{item['slug']}")).data
    assert by_path == by_slug
    assert item["path"] == MAPS_V2
    ulid_worker = (await v2.get("workers/01KJXYJ7KCHXM0PDZHQD5293XE")).data
    assert ulid_worker["version"] == "v1.0.1"


async def test_an_encoded_slash_is_not_a_separator_of_owner_and_name(v2: V2) -> None:
    encoded = MAPS.replace("/", "%2F")
    headers = {"Authorization": f"Bearer {v2.fake.api_key}"}
    for method, path in (("GET", ""), ("GET", "/input-schema"), ("POST", "/runs")):
        # encoded=True: the request line carries %2F exactly as written here.
        url = URL(f"{v2.fake.url}/api/v2/workers/{encoded}{path}", encoded=True)
        async with v2.http.request(method, url, headers=headers, json={"input": V2_INPUT}) as resp:
            body = await resp.json()
        assert (resp.status, body["code"]) == (404, 11004)
    assert v2.fake.runs == []


async def test_an_unknown_worker_is_50001(v2: V2) -> None:
    reply = await v2.get("workers/nobody~nothing")
    assert (reply.status, reply.body["code"], reply.body["message"]) == (404, 50001, "worker does not exist")


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"text"', b"{"])
async def test_a_body_that_is_not_a_json_object_is_11000_with_http_400(v2: V2, raw: bytes) -> None:
    reply = await v2.post(f"workers/{MAPS_V2}/runs", data=raw, headers={"Content-Type": "application/json"})
    assert (reply.status, reply.code) == (400, 11000)
    assert reply.body["message"].startswith("invalid argument")


async def test_a_missing_or_mistyped_field_is_11000_with_http_422(v2: V2) -> None:
    for body in (
        {},
        {"input": "text"},
        {"input": V2_INPUT, "is_async": "yes"},
        {"input": V2_INPUT, "limit": 0},
    ):
        reply = await v2.post(f"workers/{MAPS_V2}/runs", body)
        assert (reply.status, reply.code) == (422, 11000), body
    assert v2.fake.runs == []


async def test_an_abort_with_a_body_is_refused_and_aborts_nothing(v2: V2) -> None:
    v2.fake.run_schedule = (0.0, 30.0)
    run_slug = await v2.start()
    reply = await v2.post(f"worker-runs/{run_slug}/abort", {})
    assert (reply.status, reply.code) == (400, 11000)
    assert v2.fake.get_run(run_slug).aborted_at is None
    assert (await v2.post(f"worker-runs/{run_slug}/abort")).code == 0


@pytest.mark.parametrize(
    ("mode", "balance_status", "plan_status", "missing_status"),
    [("mapped", 402, 429, 404), ("always_200", 200, 200, 200)],
)
async def test_business_codes_get_a_plausible_status_or_200_and_documented_codes_keep_theirs(
    http: aiohttp.ClientSession, mode: str, balance_status: int, plan_status: int, missing_status: int
) -> None:
    async with FakeCoreClaw(http_status_mode=mode) as fake:
        v2 = V2(http, fake)
        fake.set_balance("0")
        balance = await v2.post(f"workers/{MAPS_V2}/runs", {"input": V2_INPUT})
        assert (balance.status, balance.code) == (balance_status, 30001)
        fake.set_balance("1")
        fake.set_concurrency_limit(0)
        plan = await v2.post(f"workers/{MAPS_V2}/runs", {"input": V2_INPUT})
        assert (plan.status, plan.code) == (plan_status, 30003)
        missing = await v2.get("worker-runs/01KKDXV2G26BT7NH4ZQR2R4NPZ")
        assert (missing.status, missing.code) == (missing_status, 70001)
        assert (await v2.get("users/account", key=False)).status == 401
        assert (await v2.get("nothing")).status == 404
        assert (await v2.get("worker-runs", {"limit": "101"})).status == 422
