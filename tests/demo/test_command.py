"""`codecsep-mm demo` serves the page from the installed command; demos/app.py is the same app."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_the_installed_command_serves_the_page_on_localhost():
    command = Path(sys.executable).with_name("codecsep-mm")
    port = free_port()
    process = subprocess.Popen([str(command), "demo", "--port", str(port), "--no-imagenet-images"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, page = time.monotonic() + 90, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    page = response.read().decode()
                break
            except OSError:
                time.sleep(0.5)
        assert page is not None, f"no page; the command said: {process.stdout.read() if process.poll() is not None else ''}"
        assert "codecsep-mm: separate a sound by describing it" in page
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_demos_app_is_a_thin_entry_over_the_package():
    from codecsep_mm.demo import app

    spec = importlib.util.spec_from_file_location("demos_app", ROOT / "demos" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build_demo is app.build_demo and module.launch_demo is app.launch_demo
