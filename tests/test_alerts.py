"""The alerts the chart ships (helm/pixelgate/files/alerts.yaml): valid for the real promtool,
complete (severity, summary, description, runbook, `for:`), each unit-tested with series that must
fire and near-misses that must not (tests/promtool/alerts_test.yaml), and each with its runbook."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
ALERTS = REPO / "helm" / "pixelgate" / "files" / "alerts.yaml"
PROMTOOL_TESTS = REPO / "tests" / "promtool" / "alerts_test.yaml"
RUNBOOKS = REPO / "docs" / "runbooks"
RUNBOOK_URL = "https://github.com/pixelgate/pixelgate/blob/main/docs/runbooks/{}.md"


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def test_promtool_check_rules(promtool):
    done = promtool("check", "rules", ALERTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules())} rules found" in done.stdout


def test_promtool_unit_tests_pass(promtool):
    done = promtool("test", "rules", PROMTOOL_TESTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_unit_tests_catch_a_broken_threshold(promtool, tmp_path):
    """The unit tests are not vacuous: moving the critical drift threshold from 0.2 to 0.3 fails them."""
    broken = tmp_path / "alerts.yaml"
    text = ALERTS.read_text()
    assert "(pixelgate_compile_drift_psi) > 0.2\n" in text
    broken.write_text(
        text.replace("(pixelgate_compile_drift_psi) > 0.2\n", "(pixelgate_compile_drift_psi) > 0.3\n", 1)
    )
    suite = yaml.safe_load(PROMTOOL_TESTS.read_text())
    suite["rule_files"] = [str(broken)]
    (tmp_path / "alerts_test.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    done = promtool("test", "rules", tmp_path / "alerts_test.yaml")
    assert done.returncode != 0 and "PixelgateDriftCritical" in done.stdout + done.stderr


def test_every_rule_is_complete():
    found = rules()
    assert found, "no rules"
    names = [r["alert"] for r in found]
    assert len(names) == len(set(names)), "duplicate alert names"
    for rule in found:
        name = rule["alert"]
        assert re.fullmatch(r"Pixelgate[A-Z][A-Za-z]+", name), name
        assert re.fullmatch(r"\d+[smhd]", str(rule.get("for", ""))), f"{name}: needs a for: duration"
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        ann = rule["annotations"]
        assert set(ann) == {"summary", "description", "runbook_url"}, name
        assert ann["summary"].strip() and ann["description"].strip(), name
        assert ann["runbook_url"] == RUNBOOK_URL.format(name), name
        runbook = RUNBOOKS / f"{name}.md"
        assert runbook.is_file(), f"missing runbook {runbook}"
        assert name in runbook.read_text(), f"{runbook} does not name its alert"


def test_every_alert_has_a_firing_case_and_a_near_miss():
    """Each alert is expected to fire somewhere, and expected silent (exp_alerts: []) somewhere."""
    suite = yaml.safe_load(PROMTOOL_TESTS.read_text())
    fires: set[str] = set()
    silent: set[str] = set()
    for case in suite["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {r["alert"] for r in rules()}
    assert fires == names, {"never fires": names - fires}
    assert silent == names, {"no near-miss": names - silent}


def test_the_issue_thresholds():
    by_name = {r["alert"]: r for r in rules()}
    assert by_name["PixelgateDriftCritical"]["labels"]["severity"] == "critical"
    assert "> 0.2" in by_name["PixelgateDriftCritical"]["expr"]
    assert by_name["PixelgateDriftWarning"]["labels"]["severity"] == "warning"
    assert "> 0.1" in by_name["PixelgateDriftWarning"]["expr"]
