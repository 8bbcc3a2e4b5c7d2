"""``python -m facedid_lib.app [--host HOST] [--port PORT]``: start the "Protect my photo" page."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m facedid_lib.app",
                                     description="The 'Protect my photo' page, on this computer only.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on (default 127.0.0.1: this computer only; 0.0.0.0: every "
                             "network the computer is on)")
    parser.add_argument("--port", type=int, default=7860, help="the port (default 7860)")
    args = parser.parse_args(argv)
    import importlib.util

    if importlib.util.find_spec("gradio") is None:  # not imported here: the page sets Gradio's folders first
        parser.error('the page needs Gradio: pip install "facedid[app]"')
    from facedid_lib.app.page import serve

    serve(args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
