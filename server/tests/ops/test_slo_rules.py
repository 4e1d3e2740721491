"""The SLO rules and the dashboard in `deploy/`: valid for Prometheus (promtool), their alerts fire when and only
when the budget burns (promtool's rule unit tests), and every metric they name is one the server exposes, so that
a renamed metric cannot leave them silently empty. promtool comes from Debian's `prometheus` package (`make
test-tools`); without it these skip locally and fail in CI (LEXICA_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from lexica.platform.request_tally import DURATION_BUCKETS
from tests.ops.promtool import promtool

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
RULES = DEPLOY / "prometheus" / "lexica-slo.rules.yml"
RULE_TESTS = DEPLOY / "prometheus" / "lexica-slo.test.yml"
DASHBOARD = DEPLOY / "grafana" / "lexica-dashboard.json"
METRIC_NAME = re.compile(r"\b(lexica_[a-z_]+)")
RECORDED_NAME = re.compile(r"\b(lexica:[a-z_:0-9]+)")


def _run(*arguments: str) -> str:
    finished = subprocess.run(
        [promtool(), *arguments], cwd=RULES.parent, capture_output=True, text=True, timeout=120, check=False
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return finished.stdout


def test_the_rules_are_valid_prometheus_rules() -> None:
    assert "SUCCESS" in _run("check", "rules", RULES.name)


def test_the_alerts_fire_when_the_budget_burns_and_only_then() -> None:
    assert "SUCCESS" in _run("test", "rules", RULE_TESTS.name)


def _rule_expressions() -> list[str]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule["expr"] for group in document["groups"] for rule in group["rules"]]


def _dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def _recorded() -> set[str]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return {rule["record"] for group in document["groups"] for rule in group["rules"] if "record" in rule}


async def test_every_metric_the_rules_and_the_dashboard_name_is_exposed(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/words/abacus", "/api/v1/words/abacus", "/health/ready"):
        await client.get(path)
    await client.get("/metrics")  # counted by the next scrape
    scraped = (await client.get("/metrics")).text
    exposed = {sample.name for family in text_string_to_metric_families(scraped) for sample in family.samples}
    expressions = _rule_expressions() + _dashboard_expressions()
    named = {name for expression in expressions for name in METRIC_NAME.findall(expression)}
    assert named, "no metric found in the expressions: the pattern is wrong"
    assert named <= exposed, f"named but not exposed: {sorted(named - exposed)}"
    # A recording rule the dashboard uses must exist.
    recorded_uses = {name for expression in _dashboard_expressions() for name in RECORDED_NAME.findall(expression)}
    assert recorded_uses <= _recorded(), f"not recorded: {sorted(recorded_uses - _recorded())}"


def test_the_latency_objective_is_a_bucket_of_the_histogram() -> None:
    """`le="0.05"` in the rules must be one of the histogram's bounds, or the SLI is always 0."""
    bounds = {float(value) for expression in _rule_expressions() for value in re.findall(r'le="([0-9.]+)"', expression)}
    assert bounds
    assert bounds <= set(DURATION_BUCKETS)
