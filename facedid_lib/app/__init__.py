"""The "Protect my photo" web page (issue: a page for the person who is not at a terminal).

:mod:`~facedid_lib.app.protect` holds what the page does (privacy levels, the methods offered,
one photo protected and measured, the results written without metadata) and needs no web
framework; :mod:`~facedid_lib.app.page` is the Gradio page (``pip install "facedid[app]"``),
started by ``python -m facedid_lib.app``.
"""
