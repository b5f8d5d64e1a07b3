"""Pure parts of the workflow routes: the OpenAPI declarations, draft merging, graph capping."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.spec import DEFAULT_TIERS
from services.gateway.app import create_app
from services.gateway.drafts import merge_draft, missing_fields
from services.gateway.results import cap_graph
from services.gateway.spec_input import InputError
from services.kit.settings import Settings

# route -> (method, the statuses it must declare)
DECLARED = {
    ("/api/jobs/draft", "post"): {"201", "400", "401", "403", "409", "413", "422"},
    ("/api/jobs/draft", "get"): {"200", "401", "422"},
    ("/api/jobs/draft/{draft_id}", "patch"): {"200", "400", "401", "404", "409", "413", "422"},
    ("/api/jobs/draft/{draft_id}/launch", "post"): {
        "201",
        "401",
        "403",
        "404",
        "409",
        "422",
        "429",
        "502",
        "503",
    },
    ("/api/jobs/{job_id}/retry", "post"): {"201", "401", "403", "404", "409", "422", "429", "502", "503"},
    ("/api/jobs/{job_id}/graph", "get"): {"200", "401", "404", "422", "503"},
    ("/api/jobs/{job_id}/export/pdf", "get"): {"200", "401", "404", "503"},
    ("/api/jobs/{job_id}/share", "post"): {"201", "401", "404", "409"},
    ("/api/jobs/{job_id}/share", "delete"): {"204", "401", "404"},
    ("/api/share/{token}", "get"): {"200", "404", "429"},
    ("/api/share/{token}/graph", "get"): {"200", "404", "422", "429", "503"},
    ("/api/share/{token}/og", "get"): {"200", "404", "429"},
    ("/api/share/demos", "get"): {"200", "429"},
    ("/api/config", "get"): {"200", "429"},
    ("/api/auth/forgot-password", "post"): {"200", "422", "429"},
    ("/api/auth/reset-password", "post"): {"200", "400", "422", "429"},
    ("/api/auth/verify-email", "post"): {"200", "400", "422", "429"},
    ("/api/auth/verify-email/request", "post"): {"202", "401", "409", "429"},
}


@pytest.fixture(scope="module")
def doc() -> dict:
    return create_app(Settings(home=Path("/nonexistent"))).openapi()


@pytest.mark.parametrize(("path", "method"), sorted(DECLARED))
def test_each_workflow_route_declares_its_statuses_with_schemas(doc: dict, path: str, method: str) -> None:
    responses = doc["paths"][path][method]["responses"]
    assert DECLARED[(path, method)] <= set(responses), sorted(responses)
    for status, resp in responses.items():
        if status[0] in "45":
            assert resp["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
        elif status != "204":
            assert resp.get("content"), (status, resp)


def test_the_job_result_is_the_reporters_contract(doc: dict) -> None:
    schemas = doc["components"]["schemas"]
    for model in ("Job", "SharedJob"):
        ref = schemas[model]["properties"]["result"]["anyOf"][0]
        assert ref == {"$ref": "#/components/schemas/JobResult"}
    assert {"verdict", "key_insight", "findings", "stakeholders", "scale"} <= set(
        schemas["JobResult"]["required"]
    )
    assert schemas["Draft"]["properties"]["spec"] == {"$ref": "#/components/schemas/DraftSpec"}
    assert schemas["DraftSpec"]["properties"]["goal"]["anyOf"][0]["maxLength"] == 1000


def test_a_draft_merge_patch_sets_replaces_and_removes() -> None:
    spec = merge_draft({}, {"goal": "Will it rain?", "forecast_days": 10}, DEFAULT_TIERS)
    assert missing_fields(spec) == ["seed_text"]
    spec = merge_draft(spec, {"forecast_days": None, "seed_text": "Clouds gather."}, DEFAULT_TIERS)
    assert spec == {"goal": "Will it rain?", "seed_text": "Clouds gather."} and missing_fields(spec) == []
    with pytest.raises(InputError) as err:
        merge_draft(spec, {"rounds": 0}, DEFAULT_TIERS)
    assert err.value.code == "invalid_draft" and err.value.detail.startswith("rounds:")


def test_a_graph_under_the_caps_is_kept_whole_and_one_over_them_keeps_its_hubs() -> None:
    nodes = [{"id": f"n{i}", "label": str(i), "kind": "agent"} for i in range(10)]
    edges = [{"source": "n0", "target": f"n{i}", "type": "FOLLOWS", "weight": 1} for i in range(1, 10)]
    whole = cap_graph({"nodes": nodes, "edges": edges}, 10, 100)
    assert whole["truncated"] is False and len(whole["nodes"]) == 10 and len(whole["edges"]) == 9
    capped = cap_graph({"nodes": nodes, "edges": edges}, 3, 1)
    assert capped["truncated"] is True and capped["total_nodes"] == 10 and capped["total_edges"] == 9
    assert (
        "n0" in {n["id"] for n in capped["nodes"]} and len(capped["nodes"]) == 3 and len(capped["edges"]) == 1
    )
    junk = cap_graph({"nodes": [None, {"id": 3}, {"id": "ok"}], "edges": [{"source": "ok"}]}, 10, 10)
    assert [n["id"] for n in junk["nodes"]] == ["ok"] and junk["edges"] == []
