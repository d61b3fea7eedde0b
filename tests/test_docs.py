"""The docs render on a code host and link only to what exists in the repository.

No GitBook markup (``{% hint %}`` and friends) in the secrets guide; every link
in it is relative and reaches a file of this repository (and, with ``#anchor``,
a heading of that file, slugged the way GitHub does); the guide names both MCP
tools the MCP server registers (tests/test_mcp.py lists them through a real
client). The README's
own relative links are checked the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import REPO

GUIDE = REPO / "docs" / "secrets-guide.md"
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _without_code(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def _anchors(path: Path) -> set[str]:
    return {github_slug(h) for h in HEADING.findall(_without_code(path.read_text("utf-8")))}


def _broken_links(doc: Path, *, external_allowed: bool, root: Path = REPO) -> list[str]:
    problems = []
    for target in LINK.findall(_without_code(doc.read_text(encoding="utf-8"))):
        if target.startswith(("http://", "https://", "mailto:")):
            if not external_allowed:
                problems.append(f"{target}: not a page of this repository")
            continue
        if target.startswith("/"):
            problems.append(f"{target}: absolute path (GitBook style); use a relative link")
            continue
        file_part, _, anchor = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.is_file() or root not in dest.parents:
            problems.append(f"{target}: no such file in the repository")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            problems.append(f"{target}: no heading #{anchor} in {dest.name}")
    return problems


def test_slug_matches_github() -> None:
    assert github_slug("Flows, checkpoints and secrets at run time") == (
        "flows-checkpoints-and-secrets-at-run-time"
    )
    assert github_slug("`kitaru` CLI: Quick start") == "kitaru-cli-quick-start"


def test_guide_has_no_gitbook_markup() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    assert "{%" not in text and "%}" not in text
    assert "{{" not in text


def test_guide_links_only_to_existing_repository_pages() -> None:
    links = LINK.findall(GUIDE.read_text(encoding="utf-8"))
    assert links, "the guide should link to the README and the code"
    assert _broken_links(GUIDE, external_allowed=False) == []


def test_readme_relative_links_exist() -> None:
    assert _broken_links(REPO / "README.md", external_allowed=True) == []


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("[x](/kitaru/guides/llm-calls.md)", "absolute path"),
        ("[x](nope.md)", "no such file"),
        ("[x](../README.md#no-such-heading)", "no heading"),
        ("[x](https://docs.zenml.io)", "not a page of this repository"),
    ],
)
def test_link_check_catches(tmp_path: Path, bad: str, reason: str) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("# Readme\n\n## A heading\n", encoding="utf-8")
    doc = tmp_path / "docs" / "guide.md"
    doc.write_text(f"# t\n\n[fine](../README.md#a-heading)\n{bad}\n", encoding="utf-8")
    problems = _broken_links(doc, external_allowed=False, root=tmp_path)
    assert len(problems) == 1 and reason in problems[0]


def test_guide_lists_both_mcp_tools() -> None:
    from kitaru.mcp.server import CREATE_TOOL, LIST_TOOL

    text = GUIDE.read_text(encoding="utf-8")
    assert {CREATE_TOOL, LIST_TOOL} == {"kitaru_secrets_create", "kitaru_secrets_list"}
    section = text.split("## MCP support", 1)[1].split("\n## ", 1)[0]
    for tool in (CREATE_TOOL, LIST_TOOL):
        assert f"`{tool}`" in section, tool


def test_readme_has_troubleshooting_for_the_usual_failures() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert "## Troubleshooting" in text
    section = text.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    for topic in ("Lost key", "Wrong key", "Server down", "Locked store"):
        assert f"**{topic}**" in section, topic
