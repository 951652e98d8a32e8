"""The docs point at what exists: links that resolve inside the repository, permissions the app checks.

Both were once wrong: api.md and architecture.md pointed at ``../shared`` files
that are not in the repository, and rest.md named the start permission
``add_workflowrun`` (a Django default no view checks) instead of ``start_workflowrun``.
The pages are read as text, outside fenced code blocks; web addresses are not
followed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.apps import apps

from workflows_app.permissions import ACTIONS

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCED = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1", re.MULTILINE | re.DOTALL)
INLINE_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?", re.MULTILINE)
HTML_LINK = re.compile(r"""<(?:a|img)\b[^>]*?\b(?:href|src)=["']([^"']+)["']""", re.IGNORECASE)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
WEB = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # https:, mailto:: another site's business


def _prose(page: Path) -> str:
    """The page without its fenced code blocks (a ``# comment`` there is no heading, ``[0](1)`` no link)."""
    return FENCED.sub("", page.read_text(encoding="utf-8"))


def _anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the page's headings: lower case, punctuation dropped, spaces as hyphens."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in HEADING.findall(_prose(page)):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _targets(page: Path) -> list[str]:
    text = _prose(page)
    return [*INLINE_LINK.findall(text), *REFERENCE_LINK.findall(text), *HTML_LINK.findall(text)]


def _broken(page: Path, target: str) -> str | None:
    """Why ``target``, linked from ``page``, leads nowhere in the repository; ``None`` when it is good."""
    address, _, anchor = target.partition("#")
    path = (page.parent / address).resolve() if address else page
    if not path.is_relative_to(ROOT):
        return "leads outside the repository"
    if not path.exists():
        return "no such file"
    if anchor and path.suffix == ".md" and anchor not in _anchors(path):
        return f"no heading with the anchor #{anchor} in {path.relative_to(ROOT)}"
    return None


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_of_the_repository(page: Path) -> None:
    relative = [target for target in _targets(page) if not WEB.match(target)]
    problems = {target: _broken(page, target) for target in relative}

    assert {target: why for target, why in problems.items() if why} == {}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_no_page_names_a_file_outside_the_repository(page: Path) -> None:
    """A path in code, such as ``../shared/API.md``, is as broken for a reader of the repository as a link."""
    outside = [span for span in CODE_SPAN.findall(_prose(page)) if span.startswith("../")]

    assert outside == []


def _permissions_of_the_app() -> set[str]:
    """The codenames the app checks (``permissions.ACTIONS``) and the ones its models declare."""
    checked = {permission.partition(".")[2] for permission in ACTIONS.values()}
    models = apps.get_app_config("workflows_app").get_models()
    declared = {codename for model in models for codename, _ in model._meta.permissions}
    return checked | declared


def _named_permissions(text: str) -> set[str]:
    """Codenames in ``text``: an action, then ``_`` and a model of the app (``start_workflowrun``)."""
    models = "|".join(
        str(model._meta.model_name) for model in apps.get_app_config("workflows_app").get_models()
    )
    return set(re.findall(rf"\b(?:workflows_app\.)?([a-z]+_(?:{models}))\b", text))


def test_every_permission_the_docs_name_is_one_the_app_checks() -> None:
    named = {page.name: _named_permissions(page.read_text(encoding="utf-8")) for page in PAGES}
    known = _permissions_of_the_app()

    assert {name: codenames - known for name, codenames in named.items() if codenames - known} == {}
    assert {"start_workflowrun", "resume_workflowrun", "cancel_workflowrun"} <= named["rest.md"]
    assert {"start_workflowrun", "view_workflowrun"} <= named["admin.md"]


def test_the_checks_find_what_they_look_for() -> None:
    """The checks themselves: a link outside, a missing file, a missing anchor, a permission never checked."""
    page = ROOT / "docs" / "api.md"
    assert _broken(page, "../../shared/API.md") == "leads outside the repository"
    assert _broken(page, "missing.md") == "no such file"
    assert (
        _broken(page, "rest.md#no-such-heading")
        == "no heading with the anchor #no-such-heading in docs/rest.md"
    )
    assert _broken(page, "rest.md#starting-a-run") is None
    assert _broken(page, "#schedules") is None
    assert _named_permissions("starting is `add_workflowrun`") - _permissions_of_the_app() == {
        "add_workflowrun"
    }
