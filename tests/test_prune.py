"""``sandbox.prune`` against an in-memory engine: what is removed, kept and scoped.

The real engine's side (labels, removal, the command's output) is in test_env.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from docker.errors import APIError
from verifix.sandbox.prune import PruneResult, alive, prune


@dataclass
class FakeContainer:
    labels: dict[str, str]
    removed: bool = False

    def remove(self, force: bool, v: bool) -> None:
        assert force and v
        self.removed = True


@dataclass
class FakeImage:
    id: str
    labels: dict[str, str]
    in_use: bool = False


def _matches(labels: dict[str, str], wanted: list[str]) -> bool:
    for item in wanted:
        key, _, value = item.partition("=")
        if key not in labels or (value and labels[key] != value):
            return False
    return True


@dataclass
class FakeContainers:
    items: list[FakeContainer]

    def list(self, all: bool, filters: dict) -> list[FakeContainer]:
        assert all  # stopped containers are leftovers too
        return [c for c in self.items if _matches(c.labels, filters["label"])]


@dataclass
class FakeImages:
    items: list[FakeImage]
    removed: list[str] = field(default_factory=list)

    def list(self, filters: dict) -> list[FakeImage]:
        return [i for i in self.items if _matches(i.labels, filters["label"])]

    def remove(self, image_id: str, force: bool) -> None:
        assert not force
        if next(i for i in self.items if i.id == image_id).in_use:
            raise APIError("conflict: image is being used by a running container")
        self.removed.append(image_id)


@dataclass
class FakeEngine:
    """The two collections prune uses, filtered by label as the engine filters them."""

    containers: FakeContainers
    images: FakeImages


DEAD = "999999999"  # above any pid_max


def _engine() -> FakeEngine:
    return FakeEngine(
        FakeContainers(
            [
                FakeContainer({"verifix": "1", "verifix.pid": DEAD, "verifix.session": "a"}),
                FakeContainer({"verifix": "1", "verifix.pid": str(os.getpid())}),
                FakeContainer({"verifix": "1"}),  # no owner label: nobody is running it
                FakeContainer({"other": "1"}),
            ]
        ),
        FakeImages(
            [
                FakeImage("env1", {"verifix": "1", "verifix.kind": "env", "verifix.session": "a"}),
                FakeImage("env2", {"verifix": "1", "verifix.kind": "env"}, in_use=True),
                FakeImage("base", {"verifix": "1", "verifix.kind": "base"}),
                FakeImage("foreign", {"verifix.kind": "env"}),
            ]
        ),
    )


def test_live_owners_and_images_in_use_are_kept():
    engine = _engine()

    result = prune(engine)

    assert result == PruneResult(
        removed_containers=2, kept_containers=1, removed_images=1, images_in_use=1
    )
    assert [c.removed for c in engine.containers.items] == [True, False, True, False]
    assert engine.images.removed == ["env1"]


def test_force_all_images_and_a_session():
    engine = _engine()
    assert prune(engine, force=True, all_images=True) == PruneResult(3, 0, 2, 1)
    assert engine.images.removed == ["env1", "base"]

    scoped = _engine()
    assert prune(scoped, all_images=True, session="a") == PruneResult(1, 0, 1, 0)
    assert [c.removed for c in scoped.containers.items] == [True, False, False, False]


def test_alive():
    assert alive(str(os.getpid()))
    assert not alive(DEAD)
    assert not alive(None) and not alive("") and not alive("nope")
