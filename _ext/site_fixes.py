"""Two fixes to the built pages' scripts, so the site's own scripts raise no error in a browser, and
the explorers' static form.

Loaded by ``sphinx: local_extensions:`` in _config.yml; .ci/browser_check.py is what finds errors.

1. Sphinx 7.4 lists an inline script (one with a body and no file) that an extension registers
   after the builder started twice on every page: it keeps it as ``None`` and adds it again as
   ``''``. sphinx-thebe's ``const THEBE_JS_URL = ...`` then throws "Identifier 'THEBE_JS_URL' has
   already been declared" (and sphinx-togglebutton's selector is set twice). Each page's scripts
   are listed once here.
2. ipywidgets' renderer (embed.js) typesets widget labels with MathJax 2's
   ``MathJax.Hub.Queue``; the site has MathJax 3, which has no ``Hub``, so every widget on a page
   with math threw "Cannot read properties of undefined (reading 'Queue')". A small ``Hub``
   hands the job to MathJax 3's ``typesetPromise``.
3. The kernels the build starts inherit ``FACEDID_STATIC_EXPLORERS=1``: every explorer then carries
   its static form, views precomputed on a grid with controls that move on the static site
   (:mod:`facedid_lib.viz.static_explorer`); _config.yml's ``nb_mime_priority_overrides`` has the
   pages show it instead of the widget view, which needs a kernel.
"""

from __future__ import annotations

import os

MATHJAX2_HUB = """
document.addEventListener("DOMContentLoaded", function () {
  var mj = window.MathJax;  // MathJax 3 (deferred) has loaded by now, where the page has math
  if (!mj || mj.Hub || !mj.startup || !mj.typesetPromise) return;
  mj.Hub = {Queue: function (job) {
    var element = job && job[2];
    if (!element) return;
    mj.startup.promise.then(function () { return mj.typesetPromise([element]); })
      .catch(function (err) { console.warn("MathJax could not typeset a widget label:", err); });
  }};
});
""".strip()


def _script_key(script) -> tuple:
    filename = getattr(script, "filename", script) or ""
    attributes = getattr(script, "attributes", {}) or {}
    return (str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items() if k != "priority")))


def _list_scripts_once(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # the builder's own list, restored after each page


def setup(app):
    os.environ.setdefault("FACEDID_STATIC_EXPLORERS", "1")  # before any notebook's kernel starts
    app.add_js_file(None, body=MATHJAX2_HUB)
    # after the extensions that add per-page scripts (myst-nb, sphinx-thebe: priority 500)
    app.connect("html-page-context", _list_scripts_once, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
