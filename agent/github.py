"""Issues from GitHub: references, the REST API (paged), and what of a thread to trust.

Only the standard library talks to the API: a dozen endpoints, paging and a bounded retry
do not justify a client library and its dependencies. The token stays on this machine: it
is sent to the API, and by git to the host the API says the repository is cloned from, and
nowhere else.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from verifix.sandbox import git
from verifix.sandbox.errors import UsageError, VerifixError
from verifix.sandbox.git import GitError
from verifix.sandbox.verdict import Verdict

from .issue import Comment, Issue
from .redact import redact

DEFAULT_API = "https://api.github.com"
#: Roles (the collaborator-permission API's) that may start a run and whose comments are
#: read: ``author_association`` says how someone relates to a repo, not what they may do.
WRITERS = frozenset({"admin", "maintain", "write"})
#: Tries per API call, and the most time spent waiting between them (seconds).
ATTEMPTS, PATIENCE = 5, 60.0
#: GitHub's advice when a secondary rate limit comes without a Retry-After header.
SECONDARY_WAIT = 60.0

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


@dataclass(frozen=True)
class Trigger:
    """The moment a run was asked for, and the issue's title and body as they read then
    (from the event that asked, when there is one): nothing later is read."""

    at: datetime
    title: str | None = None
    body: str | None = None


def event_trigger(path: Path, ref: IssueRef) -> Trigger | None:
    """The trigger in a GitHub Actions event payload, when the event is about ``ref``.

    A comment event's moment is the comment's; an issue event's (labeled, say) is the
    issue's ``updated_at``, which the labeling itself and every earlier comment moved.
    """
    try:
        event = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the GitHub event at {path}: {exc}") from None
    issue = event.get("issue") or {}
    named = ((event.get("repository") or {}).get("full_name") or "").lower()
    if issue.get("number") != ref.number or named != f"{ref.owner}/{ref.repo}".lower():
        return None
    item = event.get("comment") or issue
    stamps = [item.get("created_at"), item.get("updated_at")]
    if not any(stamps):
        return None
    return Trigger(max(_when(stamp) for stamp in stamps), issue.get("title"), issue.get("body"))


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
    url = git.origin_url(repo)
    remote = _REMOTE.search(url) if url else None
    return (remote["owner"], remote["repo"]) if remote else None


class GitHub:
    """A minimal REST client: requests retried within bounds, pages, and errors explained
    in one line.

    ``event`` is the GitHub Actions event that started the run (default: the runner's
    GITHUB_EVENT_PATH); ``sleep`` is how retries wait (tests pass a recorder).
    """

    def __init__(
        self,
        api_url: str | None = None,
        token: str | None = None,
        *,
        event: Path | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = (api_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API).rstrip("/")
        self.token = token or os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
        path = event or os.environ.get("GITHUB_EVENT_PATH")
        self.event = Path(path) if path else None
        self.sleep = sleep
        self._repositories: dict[tuple[str, str], dict[str, Any]] = {}

    def _get(self, path: str) -> tuple[Any, str]:
        return self._request("GET", path)

    def _request(
        self, method: str, path: str, payload: dict[str, Any] | None = None
    ) -> tuple[Any, str]:
        """One call, tried again after a 5xx or a secondary rate limit: at most ATTEMPTS
        tries and PATIENCE seconds of waiting, Retry-After honored. Every method is
        retried, as GitHub's own clients do: a refused request was not carried out, and a
        5xx rarely was."""
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
        attempt, waited = 1, 0.0
        while True:
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return json.load(response), response.headers.get("Link", "")
            except urllib.error.HTTPError as exc:
                delay = _retry_delay(exc, attempt)
                if delay is None or attempt == ATTEMPTS or waited + delay > PATIENCE:
                    raise self._explain(exc, path, attempt, delay) from None
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise GitHubError(f"cannot reach the GitHub API at {self.api}: {reason}") from None
            self.sleep(delay)
            attempt, waited = attempt + 1, waited + delay

    def _explain(
        self, exc: urllib.error.HTTPError, path: str, attempts: int, delay: float | None
    ) -> VerifixError:
        remaining = exc.headers.get("X-RateLimit-Remaining")
        tries = f" ({attempts} tries)" if attempts > 1 else ""
        if delay is not None and exc.code < 500:
            return GitHubError(
                f"GitHub's secondary rate limit asks to wait {delay:.0f}s before {path}"
                f"{tries}: try again later"
            )
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
        return GitHubError(f"GitHub answered {exc.code} for {path}{tries}")

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
        key = (ref.owner, ref.repo)
        if key not in self._repositories:
            self._repositories[key] = self._get(f"/repos/{ref.owner}/{ref.repo}")[0]
        return self._repositories[key]

    def trigger(self, ref: IssueRef, started: datetime) -> Trigger:
        """The event that started this run when it is about ``ref``, else ``started``."""
        found = event_trigger(self.event, ref) if self.event else None
        if found is None:
            return Trigger(started)
        return Trigger(min(found.at, started), found.title, found.body)

    def issue(self, ref: IssueRef, *, started: datetime, all_comments: bool = False) -> Issue:
        """The issue as it read at the trigger (see ``trigger``), with the comments verifix
        may read: by people with write access (unless ``all_comments``), and none created
        or edited after the trigger. A body edited since is read as the event carried it."""
        trigger = self.trigger(ref, started)
        data, _ = self._get(f"/repos/{ref.owner}/{ref.repo}/issues/{ref.number}")
        if "pull_request" in data:
            raise UsageError(f"{ref} is a pull request, not an issue")
        comments = []
        writers: dict[str, bool] = {}
        for item in self._pages(f"/repos/{ref.owner}/{ref.repo}/issues/{ref.number}/comments"):
            changed = max(_when(item.get("created_at")), _when(item.get("updated_at")))
            if changed > trigger.at:
                continue
            author = (item.get("user") or {}).get("login", "")
            if not all_comments:
                if author not in writers:
                    writers[author] = self._can_write(ref, author)
                if not writers[author]:
                    continue
            comments.append(Comment(author or "?", item.get("body") or ""))
        return Issue(
            title=trigger.title if trigger.title is not None else data.get("title") or "",
            body=trigger.body if trigger.body is not None else data.get("body") or "",
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
        payload = {"title": redact(title), "head": head, "base": base, "body": redact(body)}
        payload["draft"] = draft
        pull, _ = self._request("POST", f"/repos/{ref.owner}/{ref.repo}/pulls", payload)
        return pull.get("html_url", "")

    def permission(self, repo: str, user: str) -> str:
        """The user's permission on ``repo`` (admin, maintain, write, triage, read, none)."""
        login = urllib.parse.quote(user, safe="")
        data, _ = self._get(f"/repos/{repo}/collaborators/{login}/permission")
        return data.get("role_name") or data.get("permission") or "none"

    def _can_write(self, ref: IssueRef, user: str) -> bool:
        """Whether ``user`` has write access; someone GitHub will not vouch for (not a
        collaborator, a bot, or a token that may not ask) is not trusted."""
        if not user:
            return False
        try:
            return self.permission(f"{ref.owner}/{ref.repo}", user) in WRITERS
        except UsageError:
            return False

    def update_comment(self, ref: IssueRef, comment_id: int, body: str) -> None:
        path = f"/repos/{ref.owner}/{ref.repo}/issues/comments/{comment_id}"
        self._request("PATCH", path, {"body": redact(body)})

    def comment_with_id(self, ref: IssueRef, body: str) -> tuple[int, str]:
        path = f"/repos/{ref.owner}/{ref.repo}/issues/{ref.number}/comments"
        made, _ = self._request("POST", path, {"body": redact(body)})
        return int(made.get("id", 0)), made.get("html_url", "")

    def comment(self, ref: IssueRef, body: str) -> str:
        path = f"/repos/{ref.owner}/{ref.repo}/issues/{ref.number}/comments"
        made, _ = self._request("POST", path, {"body": redact(body)})
        return made.get("html_url", "")


def _retry_delay(exc: urllib.error.HTTPError, attempt: int) -> float | None:
    """How long to wait before trying again, or None when trying again cannot help: a 5xx
    or a secondary rate limit is worth waiting for; a used-up primary limit (its reset is
    up to an hour away) or a refusal is not."""
    after = (exc.headers.get("Retry-After") or "").strip()
    backoff = float(2 ** (attempt - 1))
    if exc.code >= 500:
        return float(after) if after.isdigit() else backoff
    if exc.code not in (403, 429) or exc.headers.get("X-RateLimit-Remaining") == "0":
        return None
    if after.isdigit():
        return float(after)
    try:
        message = json.loads(exc.read() or b"{}").get("message", "")
    except (ValueError, AttributeError, OSError):
        message = ""
    if exc.code == 429 or "secondary rate limit" in str(message).lower():
        return SECONDARY_WAIT
    return None


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
    env = git_env(github, ref)
    try:
        if (target / ".git").is_dir():
            git.shallow_refresh(target, branch, env, keep=".verifix/")
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            git.shallow_clone(url, target, branch, env)
    except GitError as exc:
        where = f"{ref.owner}/{ref.repo} ({branch})"
        raise GitHubError(f"could not get {where}: {exc.detail}") from None
    return target


def git_env(github: GitHub, ref: IssueRef) -> dict[str, str]:
    """The environment for a git command that sends the token to the host GitHub says
    ``ref`` is cloned from, and to no other; never on a command line, never stored (see
    ``verifix.sandbox.git.remote_env``). Without a token the API is not even asked."""
    if not github.token:
        return git.remote_env("", None)
    return git.remote_env(github.repository(ref).get("clone_url") or "", github.token)


def remote_branches(repo: Path, prefix: str, github: GitHub, ref: IssueRef) -> set[str]:
    return git.remote_heads(repo, f"{prefix}*", git_env(github, ref))


def push(repo: Path, branch: str, github: GitHub, ref: IssueRef) -> None:
    try:
        git.push_branch(repo, branch, git_env(github, ref))
    except GitError as exc:
        raise GitHubError(f"could not push {branch}: {exc.detail}") from None


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
        f"**{verdict.status.label}**, {verdict.reason}.\n\n"
        f"Target tests:\n{targets}\n\n"
        f"With the patch: {', '.join(f'{n} {k}' for k, n in sorted(counts.items()))}. "
        f"Environment: `{env.get('base_image')}` (Python {env.get('python')}), "
        f"`{env.get('test_command')}`.\n\n"
        f"Fixes #{issue.number}\n"
    )


def failure_comment(outcome_text: str, attempts: int, best_reason: str) -> str:
    tried = (
        "1 patch for this issue and it did not"
        if attempts == 1
        else (f"{attempts} patches for this issue and none")
    )
    return (
        f"verifix tried {tried} pass the repository's tests ({outcome_text}).\n\n"
        f"The best attempt's result: {best_reason}\n"
    )
