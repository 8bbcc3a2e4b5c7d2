#!/usr/bin/env bash
# Refresh the vendored ipywidgets renderer in _vendor/ipywidgets/ (not run by CI: the files are
# committed, so a build needs neither Node.js nor a network). The site shows the notebooks' saved
# widget state (the explorers' static views, tqdm bars) with @jupyter-widgets/html-manager's
# embed.js, loaded from the site itself instead of a CDN (see nb_ipywidgets_js in _config.yml;
# html_static_path copies _vendor/ into _build/html/_static/).
# embed.js needs no RequireJS and renders the built-in widgets (base, controls, output), which are
# all this course uses; its Font Awesome icons are the woff2 files beside it (Chromium asks for no
# other format). Bump VERSION and INTEGRITY together; VERSION must satisfy the
# __html_manager_version__ of the pinned ipywidgets (ipywidgets/_version.py).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=1.0.15
INTEGRITY='sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA=='

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@jupyter-widgets/html-manager@$VERSION" >/dev/null)
tarball="$work/jupyter-widgets-html-manager-$VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
[ "$got" = "$INTEGRITY" ] || { echo "integrity mismatch: $got" >&2; exit 1; }
tar -xzf "$tarball" -C "$work"
dist="$work/package/dist"

out=_vendor/ipywidgets
rm -rf "$out"
mkdir -p "$out"
cp "$dist/embed.js" "$dist/embed.js.LICENSE.txt" "$out/"
for font in $(grep -o '[0-9a-f]\{20\}\.woff2' "$dist/embed.js" | sort -u); do
  cp "$dist/$font" "$out/"
done
cat > "$out/NOTICE.txt" <<EOF
@jupyter-widgets/html-manager $VERSION (dist/embed.js and its Font Awesome 5 woff2 fonts),
from the npm registry, tarball integrity $INTEGRITY.
License: BSD-3-Clause (Jupyter Project); bundled third-party licenses: embed.js.LICENSE.txt;
Font Awesome Free fonts: SIL OFL 1.1. Refreshed by .ci/vendor_widgets.sh.
EOF
ls -l "$out"
