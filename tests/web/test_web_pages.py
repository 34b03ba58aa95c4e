"""The incident pages over real HTTP: what a reader sees, filters, downloads, headers."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser

import docx
import pytest
from web_face import Client, start_face

from adapters.config import ConfigError
from adapters.web.settings import web_settings


class Elements(HTMLParser):
    """Every element and attribute of a page, to check what the page is made of."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Elements:
    elements = Elements()
    elements.feed(html)
    return elements


def rows_of(html: str) -> list[str]:
    """The incident titles the list shows, in order."""
    return re.findall(r'<td><a href="/incidents/[^"]+">([^<]*)</a></td>', html)


def test_the_list_shows_every_incident_newest_first(web: Client) -> None:
    page = web.get("/")
    assert page.status == 200
    titles = rows_of(page.text)
    assert len(titles) == 2
    assert titles[1] == "Checkout returns 502 after certificate rotation"
    assert titles[0].startswith("&lt;script&gt;")  # newest first, and escaped
    row = page.text[page.text.index("Checkout returns 502") :].split("</tr>")[0]
    assert "SEV2" in row and "resolved (closed)" in row
    assert "2025-03-04 14:02 CET" in row
    assert "<td>maria</td>" in row  # the commander
    assert "<td>19 min</td>" in row  # impact started 14:02, mitigated 14:21


def test_filters_and_search_narrow_the_list(web: Client) -> None:
    assert rows_of(web.get("/?status=open").text) == [rows_of(web.get("/").text)[0]]
    assert rows_of(web.get("/?status=closed").text) == [
        "Checkout returns 502 after certificate rotation"
    ]
    assert rows_of(web.get("/?severity=2").text) == [
        "Checkout returns 502 after certificate rotation"
    ]
    assert rows_of(web.get("/?q=CERTIFICATE+checkout").text) == [
        "Checkout returns 502 after certificate rotation"
    ]
    nothing = web.get("/?q=database")
    assert rows_of(nothing.text) == []
    assert "No incident matches" in nothing.text


def test_a_filter_it_cannot_read_is_said_back(web: Client) -> None:
    page = web.get("/?severity=urgent&status=burning")
    assert page.status == 200
    assert "Severity `urgent` is not 1, 2, 3 or 4." in page.text
    assert "Status `burning` is not one of open, closed, investigating" in page.text
    assert len(rows_of(page.text)) == 2  # the rest of the request still answered


def test_an_incident_page_has_roles_timeline_actions_and_sections(web: Client) -> None:
    page = web.get("/incidents/console/1")
    assert page.status == 200
    html = page.text
    assert "<h1>Incident 1: Checkout returns 502 after certificate rotation</h1>" in html
    roles = html[html.index('id="roles-h"') : html.index('id="timeline-h"')]
    assert "<td>Incident commander</td><td>maria</td>" in roles
    assert "<td>Reporting Lead</td><td>jonas</td>" in roles
    timeline = html[html.index('id="timeline-h"') : html.index('id="actions-h"')]
    people, bookkeeping = timeline.split('<details class="bookkeeping">')
    # What people put on the timeline, in time order, the back-dated 13:40 first.
    times = re.findall(r"<time>2025-03-04 (\d\d:\d\d) CET</time>", people)
    assert times == sorted(times) and times[0] == "13:40"
    assert "Certificate rotation job ran on payments-api" in people
    assert "entry-backdated" in people and "entry-tagged" in people
    assert "assigned as" not in people  # the bot's bookkeeping is folded away
    assert "Incident declared by maria" in bookkeeping
    actions = html[html.index('id="actions-h"') : html.index('id="sections-h"')]
    assert "Validate the full chain in the rotation job" in actions
    sections = html[html.index('id="sections-h"') : html.index('id="draft-h"')]
    assert re.search(r'class="filled"><strong>Root Cause</strong>: written', sections)
    assert re.search(r'class="empty"><strong>Impact</strong>: <em>to be written</em>', sections)
    assert '<svg class="picture"' in html


def test_the_picture_places_entries_along_time(web: Client) -> None:
    html = web.get("/incidents/console/1").text
    svg = html[html.index('<svg class="picture"') : html.index("</svg>")]
    marks = [float(x) for x in re.findall(r'<circle cx="([\d.]+)"', svg)]
    assert len(marks) >= 5
    assert marks == sorted(marks)  # in time order from left to right
    assert min(marks) >= 130 and max(marks) <= 980


@pytest.mark.parametrize("fmt", ["md", "html", "docx"])
def test_each_draft_format_downloads(web: Client, fmt: str) -> None:
    answer = web.get(f"/incidents/console/1/draft?template=standard&format={fmt}")
    assert answer.status == 200
    if fmt == "md":
        assert answer.text.startswith("# 04-03-2025 - Checkout returns 502")
        assert "attachment" in answer.headers["content-disposition"]
    elif fmt == "html":
        assert "Checkout returns 502" in answer.text
        # The preview is framed by our page only, sandboxed, and runs nothing.
        policy = answer.headers["content-security-policy"]
        assert "sandbox" in policy and "frame-ancestors 'self'" in policy
        assert "script-src" not in policy and "default-src 'none'" in policy
    else:
        document = docx.Document(io.BytesIO(answer.body))
        assert any("Checkout returns 502" in p.text for p in document.paragraphs)
        assert answer.headers["content-disposition"].endswith('.docx"')


def test_another_template_previews_and_a_missing_one_is_named(web: Client) -> None:
    page = web.get("/incidents/console/1?template=blameless")
    assert '<option value="blameless" selected>' in page.text
    assert "template=blameless&amp;format=docx" in page.text
    missing = web.get("/incidents/console/1/draft?template=nope&format=md")
    assert missing.status == 404
    assert "There is no template `nope`" in missing.text
    bad = web.get("/incidents/console/1/draft?format=pdf")
    assert bad.status == 400 and "md, html, docx" in bad.text


def test_an_unknown_incident_is_a_404_page(web: Client) -> None:
    page = web.get("/incidents/console/99")
    assert page.status == 404
    assert "No such incident" in page.text


def test_hostile_text_is_inert_on_every_page(web: Client) -> None:
    pages = [web.get("/"), web.get("/incidents/console/2"), web.get("/insights")]
    for page in pages:
        elements = parse(page.text)
        scripts = [attrs.get("src") for tag, attrs in elements.tags if tag == "script"]
        assert all(src == "/static/live.js" for src in scripts), scripts
        assert not any(tag == "img" for tag, _ in elements.tags)
        assert not any(name.startswith("on") for _, attrs in elements.tags for name in attrs)
    incident = "".join(parse(pages[1].text).text)
    assert '<script>alert("title")</script> {{ 7*7 }} & more' in incident
    assert "<img src=x onerror=alert(1)>" in incident
    # Never evaluated as a template: wherever the title shows, `{{ 7*7 }}` stays as typed.
    # (Not `"49" not in incident`: the page shows clock times, and at 11:49 it failed.)
    assert incident.count('alert("title")</script> {{ 7*7 }}') == incident.count(
        'alert("title")</script>'
    )


def test_every_answer_carries_the_security_headers(web: Client) -> None:
    for path in ("/", "/incidents/console/1", "/incidents/console/99", "/insights", "/healthz"):
        headers = web.get(path).headers
        policy = headers["content-security-policy"]
        assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
        assert "frame-ancestors 'none'" in policy
        assert headers["x-content-type-options"] == "nosniff"


def test_insights_count_incidents_and_actions_and_offer_csv(web: Client) -> None:
    page = web.get("/insights?by=month")
    assert page.status == 200
    row = re.search(r"<tr><td>2025-03</td>(.*?)</tr>", page.text)
    assert row, page.text
    cells = re.findall(r"<td>(\d+)</td>", row.group(1))
    assert cells == ["1", "1", "0", "0", "0", "2"]  # SEV1, SEV2, SEV3, SEV4, none, all
    assert "1 open, 0 done." in page.text
    csv = web.get("/insights.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert "incidents_per_month,2025-03,SEV1,1,," in lines
    assert "action_items,open,,1,," in lines
    assert "durations,impact,SEV2,1,1140,1140" in lines  # 19 minutes
    assert "durations,time_to_detect,SEV2,0,," in lines


def test_readiness_follows_the_database_away_and_back() -> None:
    from private_postgres import PrivatePostgres

    server = PrivatePostgres()
    try:
        server.start()
        face = start_face(server.url)
        client = Client(face.url)
        try:
            assert client.get("/readyz").status == 200
            server.stop()
            gone = client.get("/readyz")
            assert gone.status == 503
            assert "not ready: the database does not answer" in gone.text
            assert client.get("/healthz").status == 200  # alive all the same
            server.start()
            assert client.get("/readyz").status == 200  # back by itself
        finally:
            face.stop()
    finally:
        server.remove()


def test_beyond_loopback_a_login_is_required() -> None:
    with pytest.raises(ConfigError, match="INCIDENT_BOT_WEB_TOKEN"):
        web_settings({"INCIDENT_BOT_HTTP_HOST": "0.0.0.0"})
    with pytest.raises(ConfigError, match="shorter than 16"):
        web_settings({"INCIDENT_BOT_HTTP_HOST": "0.0.0.0", "INCIDENT_BOT_WEB_TOKEN": "short"})
    assert not web_settings({"INCIDENT_BOT_HTTP_HOST": "::1"}).needs_login
    assert web_settings(
        {"INCIDENT_BOT_HTTP_HOST": "0.0.0.0", "INCIDENT_BOT_WEB_TRUSTED_PROXY_HEADER": "X-User"}
    ).needs_login
