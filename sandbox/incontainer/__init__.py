"""Scripts verifix copies into sandboxes and runs there with the project's own Python.

They must run on any Python the project might use (3.6 and up) and import nothing but the
standard library.
"""

from pathlib import Path

HERE = Path(__file__).parent
PYTEST_PLUGIN = HERE / "verifix_report.py"
INSTALL_REQUIREMENTS = HERE / "install_requirements.py"
SUPERVISOR = HERE / "supervise.py"
#: Where they live inside a container.
CONTAINER_DIR = "/verifix/bin"


def files() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (PYTEST_PLUGIN, INSTALL_REQUIREMENTS, SUPERVISOR)}
