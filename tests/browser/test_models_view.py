"""The Models tab in a real JupyterLab + chromium (issue 18 doors, issue 20 providers).

Its own lab: a stand-in OpenAI-compatible endpoint (tests/server/openai_standin.py, a subprocess on
127.0.0.1) for the providers form, keyrings.alt's plain-text file keyring in a tmp folder (the
test machine has no OS keyring; a test backend only), and the stand-in Hugging Face Hub of
tests/hub (HF_ENDPOINT on 127.0.0.1) for the catalog and a pull when it is there.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, LabServer, start_lab, stop_lab
from playwright.sync_api import expect
from sidebar import PANEL, open_lab, open_sidebar, switch_tab

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))
from standin_hub import GATED_REPO, GGUF_FILE, GGUF_REPO, StandinHub

pytestmark = pytest.mark.browser

SECRET = "sk-browser-DO-NOT-LEAK-7f3a9c"
STANDIN = REPO / "tests" / "server" / "openai_standin.py"
#: a loaded 2-core CI runner: JupyterLab, the server's core and chromium share it
SLOW = 90_000


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(STANDIN), "--key", SECRET],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="module")
def hub() -> Iterator[StandinHub]:
    with StandinHub() as standin:
        standin.add_packaged()
        yield standin


@pytest.fixture(scope="module")
def models_lab(tmp_path_factory: pytest.TempPathFactory, hub: StandinHub) -> Iterator[LabServer]:
    tmp = tmp_path_factory.mktemp("models-lab")
    # the pull here is ~100 MB, but the default 512 MB reserve refuses it (507) on a disk with under
    # ~0.6 GB free, as a nearly full test machine once had; tests/hub/test_pull_routes.py covers
    # the reserve itself
    (tmp / "config").mkdir()
    (tmp / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"ChatExtApp": {"hub_reserve_bytes": 0}})
    )
    env = {
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "XDG_DATA_HOME": str(tmp / "xdg"),
        # the stand-in Hub: online, no token, a HF cache of its own
        "HF_ENDPOINT": hub.url,
        "HF_HUB_OFFLINE": "0",
        "TRANSFORMERS_OFFLINE": "0",
        "HF_HOME": str(tmp / "hf-home"),
        "HF_TOKEN": "",
    }
    server, proc = start_lab(tmp, env_extra=env)
    server.tmp = tmp  # type: ignore[attr-defined]
    try:
        server.api(
            "PUT",
            "lab/api/settings/@jupyterlab/apputils-extension:notification",
            {"raw": json.dumps({"fetchNews": "false"})},
        )
        yield server
    finally:
        stop_lab(proc)


def open_models(page: Any, lab: LabServer, section: str) -> Any:
    open_lab(page, lab)
    open_sidebar(page)
    switch_tab(page, "Models")
    view = page.locator(f"{PANEL} .jp-ChatExt-models")
    view.wait_for(timeout=SLOW)
    view.locator(".jp-ChatExt-segment", has_text=section).click()
    return view


def test_providers_form_round_trip(page: Any, models_lab: LabServer, endpoint: str) -> None:
    pytest.importorskip("keyrings.alt.file")  # the lab's test keyring (the test extra installs it)
    view = open_models(page, models_lab, "Providers")
    section = view.locator("section[aria-label='Providers']")
    expect(section.get_by_text("No providers yet.")).to_be_visible(timeout=SLOW)
    section.get_by_role("button", name="Add provider").click()
    form = section.locator("form[aria-label='Add provider']")

    # a preset fills the base URL and the name; then point it at the stand-in and give a key
    form.get_by_label("Preset").select_option("vllm")
    expect(form.get_by_label("Base URL")).to_have_value("http://localhost:8000/v1")
    expect(form.get_by_label("Provider name")).to_have_value("vllm")
    form.get_by_label("Provider name").fill("standin")
    form.get_by_label("Base URL").fill(endpoint)
    form.get_by_label("API key").fill(SECRET)
    expect(form).to_contain_text("PLAIN TEXT")  # the UI says what this keyring backend is

    # Test before saving: list models + a short streamed answer with the time to first token
    form.get_by_role("button", name="Test").click()
    result = section.locator("[aria-label='Test result']")
    expect(result).to_have_attribute("data-ok", "true", timeout=SLOW)
    expect(result).to_contain_text("echo-1")
    expect(result).to_contain_text("first token after")
    expect(result).to_contain_text("Hello from the stand-in.")

    form.get_by_role("button", name="Save").click()
    row = section.locator(".jp-ChatExt-providerRow[data-provider='standin']")
    expect(row).to_contain_text("key in the keyring", timeout=SLOW)
    expect(form).to_have_count(0)

    # the saved provider answers its own Test, and its model is in the chat's model picker
    row.get_by_role("button", name="Test provider standin").click()
    expect(result).to_have_attribute("data-ok", "true", timeout=SLOW)
    switch_tab(page, "Chat")
    picker = page.locator(f"{PANEL} select[aria-label='Model']")
    expect(picker.locator("option[value='standin/echo-1']")).to_have_count(1, timeout=SLOW)

    # the key is nowhere but the keyring: not in the page, any answer, the providers file or the store
    assert SECRET not in page.content()
    listed = models_lab.api("GET", "chat-ext/providers")
    assert SECRET not in json.dumps(listed)
    providers_file = Path(models_lab.tmp) / "config" / "chat_ext" / "providers.json"  # type: ignore[attr-defined]
    assert [p["name"] for p in json.loads(providers_file.read_text())["providers"]] == ["standin"]
    assert SECRET not in providers_file.read_text()
    for db in Path(models_lab.data_dir).glob("chat.duckdb*"):
        assert SECRET.encode() not in db.read_bytes()
    assert SECRET not in models_lab.log.read_text(errors="replace")  # nor in the server's log

    # edit keeps the saved key (blank field), then remove with a confirmation; the chat's
    # "More models…" link leads back to the Models tab
    page.locator(f"{PANEL} .jp-ChatExt-modelBar").get_by_role("button", name="More models…").click()
    expect(view).to_be_visible(timeout=SLOW)
    view.locator(".jp-ChatExt-segment", has_text="Providers").click()
    row.get_by_role("button", name="Edit provider standin").click()
    edit = section.locator("form[aria-label='Edit provider standin']")
    edit.get_by_label("Models").fill("echo-1, echo-2")
    edit.get_by_role("button", name="Save").click()
    expect(edit).to_have_count(0, timeout=SLOW)
    assert models_lab.api("GET", "chat-ext/providers/standin")["key"] == "keyring"
    row.get_by_role("button", name="Remove provider standin").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Remove").click()
    expect(row).to_have_count(0, timeout=SLOW)
    assert json.loads(providers_file.read_text())["providers"] == []
    assert not page.page_errors, page.page_errors  # type: ignore[attr-defined]


def test_catalog_search_pull_with_progress_cancel_resume_role_and_delete(
    page: Any, models_lab: LabServer, hub: Any
) -> None:
    view = open_models(page, models_lab, "Catalog")
    # the catalog by role, with fits badges and the suggested pick for this machine
    groups = view.locator(".jp-ChatExt-catalogGroup")
    expect(groups.first).to_be_visible(timeout=SLOW)
    expect(
        view.locator(".jp-ChatExt-catalogGroup[data-role='chat'] .jp-ChatExt-catalogRow").first
    ).to_be_visible()
    expect(view.locator(".jp-ChatExt-catalogRow .jp-ChatExt-fits").first).to_be_visible()
    suggested = models_lab.api("GET", "chat-ext/catalog")["suggested"]
    if suggested.get("chat"):
        row = view.locator(f".jp-ChatExt-catalogRow[data-entry='{suggested['chat']}']")
        expect(row).to_have_class(re.compile("jp-mod-suggested"))
    expect(view.locator(".jp-ChatExt-hwLine")).to_contain_text("RAM")

    # search the (stand-in) Hub, open a repo's files, pull one: progress, then installed
    view.locator(".jp-ChatExt-segment", has_text="Search Hub").click()
    view.get_by_label("Search models").fill("SmolLM2")
    view.get_by_label("Search models").press("Enter")
    repo = view.locator(f".jp-ChatExt-hubRow[data-repo='{GGUF_REPO}']")
    expect(repo).to_be_visible(timeout=SLOW)
    repo.locator(".jp-ChatExt-sessionOpen").click()
    file_row = repo.locator(f".jp-ChatExt-fileRow[data-file='{GGUF_FILE}']")
    expect(file_row).to_contain_text("Q4_1", timeout=SLOW)
    expect(file_row.locator(".jp-ChatExt-fits")).to_be_visible()

    hub.pause_after(12_000_000)  # the body stalls after 12 MB until released: progress is on screen
    try:
        file_row.get_by_role("button", name=re.compile("^Pull")).click()
        job = view.locator(".jp-ChatExt-pullJob").first
        # a refused pull (e.g. 507, the disk too full) shows an alert and no job: fail with its text
        refused = view.locator(".jp-ChatExt-error[role='alert']")
        expect(job.or_(refused).first).to_be_visible(timeout=SLOW)
        assert refused.count() == 0, f"the pull was refused: {refused.first.inner_text()}"
        expect(job).to_have_attribute("data-state", "running", timeout=SLOW)
        label = job.locator("[data-role='pull-label']")
        expect(label).to_contain_text(re.compile(r"MB of \d+(\.\d)? MB"), timeout=SLOW)
        value = job.locator("progress").evaluate("p => p.value")
        assert 0 < value < 1, value
        # cancel while it is stalled: the job stops at its next chunk and offers Resume
        job.get_by_role("button", name=re.compile("^Cancel pull")).click()
    finally:
        hub.release()
    expect(job).to_have_attribute("data-state", "cancelled", timeout=SLOW)
    job.get_by_role("button", name=re.compile("^Resume pull")).click()
    expect(job).to_have_attribute("data-state", "done", timeout=SLOW * 2)
    expect(job).to_contain_text("installed as")
    expect(file_row.locator(".jp-ChatExt-installed")).to_be_visible(timeout=SLOW)

    # the pulled model: installed from the hub, can be the default chat model, and deleted
    view.locator(".jp-ChatExt-segment", has_text="Installed").click()
    pulled = view.locator(".jp-ChatExt-modelRow[data-source='hub']")
    expect(pulled).to_have_count(1, timeout=SLOW)
    model_id = pulled.get_attribute("data-model")
    pulled.get_by_label(f"Use {model_id} as").select_option("set:chat")
    expect(pulled.locator(".jp-ChatExt-roleChip[data-role='chat']")).to_be_visible(timeout=SLOW)
    assert models_lab.api("GET", "chat-ext/roles")["chat"] == model_id
    # give the chat role back to the packaged model, then delete the pulled one (with a confirm)
    models_lab.api("PUT", "chat-ext/roles", {"chat": "smollm2-135m-instruct"})
    view.get_by_role("button", name="Refresh models").click()
    pulled.get_by_role("button", name=f"Delete model {model_id}").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
    expect(pulled).to_have_count(0, timeout=SLOW)
    assert model_id not in {m["id"] for m in models_lab.api("GET", "chat-ext/models")["models"]}

    # a gated repo without a token: the refusal says what it is and names HF_TOKEN
    view.locator(".jp-ChatExt-segment", has_text="Search Hub").click()
    view.get_by_label("Search models").fill("gated")
    view.get_by_label("Search models").press("Enter")
    gated = view.locator(f".jp-ChatExt-hubRow[data-repo='{GATED_REPO}']")
    expect(gated).to_be_visible(timeout=SLOW)
    gated.locator(".jp-ChatExt-sessionOpen").click()
    refusal = view.locator("[role='alert']", has_text="gated or private")
    pull_gated = gated.get_by_role("button", name=re.compile("^Pull"))
    expect(refusal.or_(pull_gated.first)).to_be_visible(timeout=SLOW)
    if refusal.count() == 0:  # the files could be listed: the pull itself is refused
        pull_gated.first.click()
    expect(refusal).to_contain_text("HF_TOKEN", timeout=SLOW)
    assert not page.page_errors, page.page_errors  # type: ignore[attr-defined]
