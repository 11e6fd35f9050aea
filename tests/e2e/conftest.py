"""End-to-end fixtures: the portal served over real HTTP, driven by Debian's Chromium through Playwright."""
import pytest


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
    yield page
    context.close()
