"""The "Protect my photo" web page: Gradio, on this computer only, with no network at all.

Run it with ``python -m facedid_lib.app`` (``--host``, ``--port``; it listens on 127.0.0.1 unless
told otherwise) after ``pip install "facedid[app]"``, and open the address it prints.

Why Gradio and not Streamlit (the source's choice), both measured here with the network off
(strace on the server, offline Chromium on the page): both can run with no request to another
host, but Gradio's switches live in this file (``analytics_enabled=False``, the Hugging Face hub
offline, 127.0.0.1 by default), so they hold however the page is started; Streamlit's are
command-line flags or a config file, and without them it listens on every interface, asks
``checkip.amazonaws.com`` for its address and sends usage statistics to ``data.streamlit.io``.
Gradio serves its fonts and scripts itself (no CDN). The price: Gradio writes uploads to disk, so
they go to a private temporary folder that the page makes at start and removes when it stops
(:func:`build_page`), the browser keeps no run history, and the image's share button is hidden.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["build_page", "serve", "MAX_FILE_SIZE"]

#: The largest upload the server accepts (Gradio refuses larger files with HTTP 413).
MAX_FILE_SIZE = "25mb"


def _private_folder() -> Path:
    """A folder only this user can read, for the uploads and results; removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="facedid-page-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _offline_environment(folder: Path) -> None:
    """Gradio's and the Hugging Face hub's network switches off, uploads into ``folder``; before Gradio loads."""
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


def _component(gr, param, visible: bool):
    """A Gradio input for a :class:`~facedid_lib.core.params.Param` (a menu for choices, else a slider)."""
    label = f"{param.name}: {param.help}"
    if param.choices:
        return gr.Dropdown(list(param.choices), value=param.default, label=label, visible=visible)
    if isinstance(param.default, bool):
        return gr.Checkbox(value=param.default, label=label, visible=visible)
    step = param.step if param.step is not None else (1 if isinstance(param.default, int) else None)
    return gr.Slider(param.low, param.high, value=param.default, step=step, label=label, visible=visible)


def build_page(folder: Path | None = None):
    """The page as a ``gradio.Blocks`` (not started): uploads and results live in ``folder`` (a
    new private temporary folder, removed at exit, by default)."""
    folder = Path(folder) if folder is not None else _private_folder()
    _offline_environment(folder)
    import gradio as gr

    from facedid_lib.app import protect as core
    from facedid_lib.methods import get

    methods = core.offered_methods()
    params = {name: get(name).command_params() for name in methods}
    levels = {level.label: level for level in core.LEVELS}

    def run(files, level, method, *values, progress=gr.Progress()):
        if not files:
            raise gr.Error("Choose one or more photos first.")
        given = iter(values)
        shown = {m: {p.name: next(given) for p in params[m]} for m in methods}
        try:
            name, settings = core.choice(level, method, shown.get(method))
        except ValueError as err:
            raise gr.Error(str(err)) from None
        results, refused = [], []
        for i, upload in enumerate(files):
            path = Path(upload if isinstance(upload, str) else upload.name)
            progress(i / len(files), desc=f"photo {i + 1} of {len(files)}: {name}")
            try:
                photo = core.check_upload(path)
            except ValueError as err:
                refused.append(str(err))
                continue
            results.append(core.protect(photo, name, settings, name=path.name))
        for message in refused:
            gr.Warning(message)
        if not results:
            raise gr.Error(" ".join(refused) or "No photo could be read.")
        progress(1.0, desc="writing the results")
        archive = core.write_results(results, Path(tempfile.mkdtemp(dir=folder)))
        gallery = [pair for r in results for pair in ((r.before, f"{r.name}: before"), (r.after, f"{r.name}: after"))]
        return gallery, core.summary_rows(results), str(archive)

    def show(level, method):
        expert = level == core.EXPERT
        note = "" if expert else f"*{levels[level].method}*: {levels[level].note}."
        return [gr.update(visible=expert), gr.update(value=note)] + \
               [gr.update(visible=expert and name == method) for name in methods for _ in params[name]]

    with gr.Blocks(title="Protect my photo", analytics_enabled=False, delete_cache=(600, 3600)) as page:
        gr.Markdown("# Protect my photo\nThe photos never leave this computer: nothing is sent anywhere, "
                    "and the uploads are deleted when the page stops. The results carry no metadata.")
        files = gr.File(label="Photos", file_count="multiple", file_types=["image"], elem_id="upload")
        level = gr.Dropdown([*levels, core.EXPERT], value=core.LEVELS[0].label, label="Protect against",
                            elem_id="level")
        note = gr.Markdown(f"*{core.LEVELS[0].method}*: {core.LEVELS[0].note}.", elem_id="note")
        method = gr.Dropdown(methods, value=methods[0], label="Method", visible=False, elem_id="method")
        inputs = [_component(gr, p, False) for name in methods for p in params[name]]
        go = gr.Button("Protect", variant="primary", elem_id="go")
        gallery = gr.Gallery(label="Before and after", columns=2, elem_id="result", buttons=["fullscreen"])
        table = gr.Dataframe(headers=["photo", "faces found", "YuNet still finds", "SFace still matches"],
                             label="Measured on the result", elem_id="table")
        download = gr.File(label="Download (no metadata)", elem_id="download")
        level.change(show, [level, method], [method, note, *inputs])
        method.change(show, [level, method], [method, note, *inputs])
        go.click(run, [files, level, method, *inputs], [gallery, table, download])
    return page


def serve(host: str = "127.0.0.1", port: int = 7860, folder: Path | None = None) -> None:
    """Start the page (blocks until it is stopped)."""
    import signal
    import sys

    page = build_page(folder)
    # a stopped page removes its folder of uploads: SIGTERM ends it as Ctrl+C does (atexit runs)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"facedid page: http://{host}:{port}/ (the photos stay on this computer; Ctrl+C stops it)", flush=True)
    page.queue().launch(server_name=host, server_port=port, max_file_size=MAX_FILE_SIZE, run_history=False,
                        footer_links=[], share=False, mcp_server=False, ssr_mode=False, show_error=True,
                        quiet=True)
