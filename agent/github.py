"""Issues from GitHub: references, the REST API (paged), and what of a thread to trust.

Only the standard library talks to the API: a few GETs with a token do not justify a
client library. The token stays on this machine: it is sent to the API and nowhere else.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from verifix.sandbox.errors import UsageError, VerifixError
from verifix.sandbox.verdict import Verdict

from .issue import Comment, Issue

DEFAULT_API = "https://api.github.com"
#: Authors whose comments are read by default: people with a say in the repository.
TRUSTED = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})

_URL = re.compile(
    r"^https?://(?P<host>[^/]+)/(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+)/issues/(?P<n>\d+)/?$"
)
_SHORT = re.compile(r"^(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+)#(?P<n>\d+)$")
_LOCAL = re.compile(r"^#(?P<n>\d+)$")
_REMOTE = re.compile(r"(?:[:/])(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+?)(?:\.git)?/?$")


class GitHubError(VerifixError):
    """The API could not be reached or failed: exit code 3."""


@dataclass(frozen=True)
class IssueRef:
    owner: str
    repo: str
    number: int

    def __str__(self) -> str:
        return f"{self.owner}/{self.repo}#{self.number}"


def looks_like_reference(text: str) -> bool:
    return bool(_URL.match(text) or _SHORT.match(text) or _LOCAL.match(text))


def parse_reference(text: str, repo: Path) -> IssueRef:
    """A URL, ``OWNER/REPO#N``, or ``#N`` (resolved against ``repo``'s origin)."""
    for pattern in (_URL, _SHORT):
        match = pattern.match(text)
        if match:
            return IssueRef(match["owner"], match["repo"], int(match["n"]))
    match = _LOCAL.match(text)
    if not match:
        raise UsageError(
            f"{text!r} is not an issue reference: use https://github.com/OWNER/REPO/issues/N, "
            "OWNER/REPO#N or #N"
        )
    remote = _origin(repo)
    if remote is None:
        raise UsageError(
            f"#{match['n']} needs a GitHub 'origin' remote in {repo} to say which repository; "
            "use OWNER/REPO#N instead"
        )
    return IssueRef(remote[0], remote[1], int(match["n"]))


def _origin(repo: Path) -> tuple[str, str] | None:
    """(owner, repo) of ``repo``'s origin remote, if it has one that names them."""
    proc = subprocess.run(
        ["git", "-C", str(repo), "remote", "get-url", "origin"], capture_output=True, text=True
    )
    remote = _REMOTE.search(proc.stdout.strip()) if proc.returncode == 0 else None
    return (remote["owner"], remote["repo"]) if remote else None


class GitHub:
    """A minimal REST client: GETs, pages, and errors explained in one line."""

    def __init__(self, api_url: str | None = None, token: str | None = None) -> None:
        self.api = (api_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API).rstrip("/")
        self.token = token or os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")

    def _get(self, path: str) -> tuple[Any, str]:
        return self._request("GET", path)

    def _request(
        self, method: str, path: str, payload: dict[str, Any] | None = None
    ) -> tuple[Any, str]:
        request = urllib.request.Request(
            self.api + path,
            data=json.dumps(payload).encode() if payload is not None else None,
            method=method,
            headers={
                "Accept": "application/vnd.github+json",
                "Content-Type": "application/json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "verifix",
                **({"Authorization": f"Bearer {self.token}"} if self.token else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response), response.headers.get("Link", "")
        except urllib.error.HTTPError as exc:
            raise self._explain(exc, path) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GitHubError(f"cannot reach the GitHub API at {self.api}: {reason}") from None

    def _explain(self, exc: urllib.error.HTTPError, path: str) -> VerifixError:
        remaining = exc.headers.get("X-RateLimit-Remaining")
        if exc.code in (403, 429) and remaining == "0":
            reset = exc.headers.get("X-RateLimit-Reset", "")
            when = (
                datetime.fromtimestamp(int(reset), timezone.utc).strftime("%H:%M UTC")
                if reset.isdigit()
                else "later"
            )
            hint = "" if self.token else "; set GITHUB_TOKEN for a higher limit"
            return GitHubError(f"GitHub's rate limit is used up until {when}{hint}")
        if exc.code == 404:
            hint = "" if self.token else " (a private repository needs GITHUB_TOKEN)"
            return UsageError(f"not found on GitHub: {path}{hint}")
        if exc.code in (401, 403):
            return UsageError(f"GitHub refused {path} ({exc.code}): check GITHUB_TOKEN's access")
        return GitHubError(f"GitHub answered {exc.code} for {path}")

    def _pages(self, path: str) -> list[Any]:
        items: list[Any] = []
        url_path = f"{path}?per_page=100"
        while url_path:
            page, link = self._get(url_path)
            items.extend(page)
            nxt = re.search(r'<([^>]+)>;\s*rel="next"', link)
            url_path = nxt.group(1).removeprefix(self.api) if nxt else ""
        return items

    def repository(self, ref: IssueRef) -> dict[str, Any]:
        return self._get(f"/repos/{ref.owner}/{ref.repo}")[0]

    def issue(self, ref: IssueRef, *, started: datetime, all_comments: bool = False) -> Issue:
        """The issue with the comments verifix may read: by people with a say in the repo
        (unless ``all_comments``), and none created or edited after ``started``."""
        data, _ = self._get(f"/repos/{ref.owner}/{ref.repo}/issues/{ref.number}")
        if "pull_request" in data:
            raise UsageError(f"{ref} is a pull request, not an issue")
        comments = []
        for item in self._pages(f"/repos/{ref.owner}/{ref.repo}/issues/{ref.number}/comments"):
            changed = max(_when(item.get("created_at")), _when(item.get("updated_at")))
            if changed > started:
                continue
            if not all_comments and item.get("author_association") not in TRUSTED:
                continue
            comments.append(
                Comment((item.get("user") or {}).get("login", "?"), item.get("body") or "")
            )
        return Issue(
            title=data.get("title") or "",
            body=data.get("body") or "",
            comments=tuple(comments),
            labels=tuple(label["name"] for label in data.get("labels", [])),
            url=data.get("html_url"),
            number=ref.number,
        )

    def issue_state(self, ref: IssueRef) -> dict[str, Any]:
        return self._get(f"/repos/{ref.owner}/{ref.repo}/issues/{ref.number}")[0]

    def open_verifix_pr(self, ref: IssueRef) -> str | None:
        """The URL of an open pull request from a verifix branch for this issue, if any."""
        prefix = f"verifix/issue-{ref.number}"
        for pull in self._pages(f"/repos/{ref.owner}/{ref.repo}/pulls"):
            head = (pull.get("head") or {}).get("ref", "")
            if pull.get("state", "open") == "open" and (
                head == prefix or head.startswith(prefix + "-")
            ):
                return pull.get("html_url")
        return None

    def open_pull_request(
        self, ref: IssueRef, head: str, base: str, title: str, body: str, draft: bool
    ) -> str:
        payload = {"title": title, "head": head, "base": base, "body": body, "draft": draft}
        pull, _ = self._request("POST", f"/repos/{ref.owner}/{ref.repo}/pulls", payload)
        return pull.get("html_url", "")

    def permission(self, repo: str, user: str) -> str:
        """The user's permission on ``repo`` (admin, maintain, write, triage, read, none)."""
        data, _ = self._get(f"/repos/{repo}/collaborators/{user}/permission")
        return data.get("role_name") or data.get("permission") or "none"

    def update_comment(self, ref: IssueRef, comment_id: int, body: str) -> None:
        path = f"/repos/{ref.owner}/{ref.repo}/issues/comments/{comment_id}"
        self._request("PATCH", path, {"body": body})

    def comment_with_id(self, ref: IssueRef, body: str) -> tuple[int, str]:
        path = f"/repos/{ref.owner}/{ref.repo}/issues/{ref.number}/comments"
        made, _ = self._request("POST", path, {"body": body})
        return int(made.get("id", 0)), made.get("html_url", "")

    def comment(self, ref: IssueRef, body: str) -> str:
        path = f"/repos/{ref.owner}/{ref.repo}/issues/{ref.number}/comments"
        made, _ = self._request("POST", path, {"body": body})
        return made.get("html_url", "")


def _when(stamp: str | None) -> datetime:
    if not stamp:
        return datetime.min.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "verifix" / "repos"


def origin_matches(repo: Path, ref: IssueRef) -> bool:
    return _origin(repo) == (ref.owner, ref.repo)


def checkout(github: GitHub, ref: IssueRef, branch: str | None) -> Path:
    """A shallow clone of the issue's repository in verifix's cache, at ``branch`` (default:
    the repository's default branch), refreshed when it already exists."""
    info = github.repository(ref)
    url = info.get("clone_url")
    if not url:
        raise GitHubError(f"GitHub did not say where to clone {ref.owner}/{ref.repo} from")
    branch = branch or info.get("default_branch") or "main"
    target = cache_dir() / ref.owner / ref.repo
    auth = _auth(github.token)
    if (target / ".git").is_dir():
        commands = [
            ["git", *auth, "-C", str(target), "fetch", "-q", "--depth", "1", "origin", branch],
            ["git", "-C", str(target), "checkout", "-q", "-f", "FETCH_HEAD"],
            ["git", "-C", str(target), "clean", "-qfdx", "-e", ".verifix/"],
        ]
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        commands = [
            ["git", *auth, "clone", "-q", "--depth", "1", "--branch", branch, url, str(target)]
        ]
    for command in commands:
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            last = proc.stderr.strip().splitlines()[-1:] or ["?"]
            raise GitHubError(f"could not get {ref.owner}/{ref.repo} ({branch}): {last[0]}")
    return target


def _auth(token: str | None) -> list[str]:
    """git options that send the token for this one command (it is never stored)."""
    return ["-c", f"http.extraheader=Authorization: Bearer {token}"] if token else []


def remote_branches(repo: Path, prefix: str, token: str | None) -> set[str]:
    proc = subprocess.run(
        ["git", *_auth(token), "-C", str(repo), "ls-remote", "--heads", "origin", f"{prefix}*"],
        capture_output=True,
        text=True,
    )
    return {
        line.split("refs/heads/", 1)[1]
        for line in proc.stdout.splitlines()
        if "refs/heads/" in line
    }


def push(repo: Path, branch: str, token: str | None) -> None:
    proc = subprocess.run(
        ["git", *_auth(token), "-C", str(repo), "push", "-q", "origin", f"{branch}:{branch}"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1:] or ["?"]
        raise GitHubError(f"could not push {branch}: {last[0]}")


def pr_body(issue: Issue, explanation: str, verdict: Verdict) -> str:
    """The explanation, the evidence a reviewer needs, and the link that closes the issue."""
    targets = "\n".join(
        f"- `{t.id}`: {t.before or 'not run'} → {t.after}" for t in verdict.targets[:20]
    )
    counts = verdict.counts.get("patched", {})
    env = verdict.environment
    return (
        f"{explanation}\n\n"
        f"### Verification\n"
        f"verifix ran the repository's own tests in a sandbox before and after this patch: "
        f"**{verdict.status.value}**, {verdict.reason}.\n\n"
        f"Target tests:\n{targets}\n\n"
        f"With the patch: {', '.join(f'{n} {k}' for k, n in sorted(counts.items()))}. "
        f"Environment: `{env.get('base_image')}` (Python {env.get('python')}), "
        f"`{env.get('test_command')}`.\n\n"
        f"Fixes #{issue.number}\n"
    )


def failure_comment(outcome_text: str, attempts: int, best_reason: str) -> str:
    return (
        f"verifix tried {attempts} patches for this issue and none passed the repository's "
        f"tests ({outcome_text}).\n\nThe best attempt's result: {best_reason}\n"
    )
