"""The pytest plugin verifix copies into sandboxes (loaded there as ``verifix_report``)."""

from pathlib import Path

PLUGIN_SOURCE = Path(__file__).with_name("verifix_report.py")
