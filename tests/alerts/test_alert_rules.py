"""The routing rules: matchers, titles, severities, and what `check-config` says about
rules written wrong."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.config import ConfigError, load_settings
from bot.alerts import Alert, AlertRoute, AlertRuleError, parse_matcher, parse_route

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from cli import incident_bot


def an_alert(**labels: str) -> Alert:
    return Alert(
        fingerprint="f",
        status="firing",
        labels={"alertname": "HighErrorRate", **labels},
        annotations={"summary": "Error rate above 5%", "team_channel": "#payments"},
        starts_at=datetime(2025, 3, 4, 14, 2, tzinfo=UTC),
        ends_at=None,
    )


def route(**raw: object) -> AlertRoute:
    return parse_route(raw, 0)


@pytest.mark.parametrize(
    ("matcher", "labels", "matches"),
    [
        ('severity="critical"', {"severity": "critical"}, True),
        ('severity="critical"', {"severity": "warning"}, False),
        ("team=payments", {"team": "payments"}, True),
        ('team!="payments"', {"team": "search"}, True),
        ('team!="payments"', {}, True),
        ('env=~"prod|staging"', {"env": "staging"}, True),
        ('env=~"prod"', {"env": "production"}, False),  # anchored, as Alertmanager's
        ('env!~"dev.*"', {"env": "dev-3"}, False),
        ('missing=""', {}, True),
    ],
)
def test_matchers_match_as_alertmanager_does(
    matcher: str, labels: dict[str, str], matches: bool
) -> None:
    assert parse_matcher(matcher).matches(labels) is matches


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        ({"match": ["severity"]}, "`severity` is not a label matcher; write name=\"value\""),
        ({"match": ['env=~"("']}, "is not a regular expression"),
        ({"match": "severity=critical", "platform": "teams"}, "platform `teams` is not one of"),
        ({"platform": "slack", "announce": "C1"}, "`workspace` is missing; on slack write"),
        ({"platform": "matrix", "workspace": "example.org"}, "`announce` is missing"),
        ({"title": "{alertname"}, "a brace without its pair"),
        ({"title": "{labels[0]}"}, "`{labels[0]}` is not a placeholder"),
        ({"severity": {"critical": 7}}, "maps label values to levels 1 to 4"),
        ({"mach": []}, "unknown key(s) mach"),
    ],
)  # fmt: skip
def test_a_route_written_wrong_says_what_and_how(raw: dict[str, object], said: str) -> None:
    with pytest.raises(AlertRuleError) as problem:
        route(**raw)
    assert said in str(problem.value)
    assert str(problem.value).startswith("alerts.routes[0]: ")


def test_the_title_comes_from_the_template_with_a_sane_default() -> None:
    assert route().title_for([an_alert()], {}) == "HighErrorRate: Error rate above 5%"
    bare = Alert("f", "firing", {"alertname": "DiskFull"}, {}, an_alert().starts_at, None)
    assert route().title_for([bare], {}) == "DiskFull"  # no dangling ": "
    custom = route(title="{label.team} {{{alertname}}} in {annotation.team_channel}")
    assert custom.title_for([an_alert(team="payments")], {}) == (
        "payments {HighErrorRate} in #payments"
    )


def test_severity_is_the_most_severe_mapped_label() -> None:
    mapping = route(severity_label="priority", severity={"P1": 1, "P3": 3})
    assert mapping.severity_for([an_alert(priority="p3"), an_alert(priority="P1")]) == 1
    assert mapping.severity_for([an_alert(priority="P9")]) is None
    assert route().severity_for([an_alert(severity="warning")]) == 3  # the defaults


def test_settings_file_rules_and_check_config(tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(
        "[[alerts.routes]]\n"
        'name = "payments"\n'
        "match = ['severity=\"critical\"', 'team=\"payments\"']\n"
        'platform = "slack"\nworkspace = "T0123"\nannounce = "C0456"\n'
        "[alerts.routes.severity]\ncritical = 1\n"
    )
    settings = load_settings({"INCIDENT_BOT_CONFIG": str(config)})
    [payments] = settings.alert_rules.routes
    assert (payments.platform, payments.workspace, payments.announce) == ("slack", "T0123", "C0456")
    shown = incident_bot(
        "check-config", cwd=tmp_path, database_url="sqlite:///x.db",
        env={"INCIDENT_BOT_CONFIG": str(config), "INCIDENT_BOT_ALERTMANAGER_TOKEN": "s3cret-tok"},
    )  # fmt: skip
    assert shown.code == 0, shown.err
    assert (
        'alerts.routes[0] payments = severity="critical", team="payments" -> slack/T0123 '
        "announce C0456" in shown.out
    )
    assert "s3cret-tok" not in shown.out
    assert "alertmanager_token = (set)" in shown.out
    assert "grafana_token = (not set)" in shown.out
    half = incident_bot(
        "check-config", cwd=tmp_path, database_url="sqlite:///x.db",
        env={"INCIDENT_BOT_GRAFANA_USER": "grafana"},
    )  # fmt: skip
    assert half.code == 2
    assert "INCIDENT_BOT_GRAFANA_USER and INCIDENT_BOT_GRAFANA_PASSWORD go together" in half.err

    config.write_text("[[alerts.routes]]\nmatch = ['severity']\n")
    refused = incident_bot(
        "check-config", cwd=tmp_path, database_url="sqlite:///x.db",
        env={"INCIDENT_BOT_CONFIG": str(config)},
    )  # fmt: skip
    assert refused.code == 2
    assert "alerts.routes[0]: `severity` is not a label matcher" in refused.err
    with pytest.raises(ConfigError, match="alerts_max_body: `lots` is not a size"):
        load_settings({"INCIDENT_BOT_ALERTS_MAX_BODY": "lots"})


def test_an_alert_names_nobody_whatever_its_text_says() -> None:
    """A `{@…}` in an alert's labels or annotations stays text: rendered, it is not a
    mention of anyone."""
    from bot.alerts import firing_text
    from bot.mentions import resolve

    sneaky = Alert("f", "firing", {"alertname": "X{@UBOSS}"},
                   {"summary": "page {@UADMIN} now"}, an_alert().starts_at, None)  # fmt: skip
    text = firing_text(sneaky, "alertmanager")
    rendered = resolve(text, lambda user: f"NAME-OF-{user}")
    assert "NAME-OF-" not in rendered
    assert "UADMIN" in rendered
    title = route(title="{annotation.summary}").title_for([sneaky], {})
    assert "NAME-OF-" not in resolve(title, lambda user: f"NAME-OF-{user}")
