#!/usr/bin/env bash
# Reproduces the vendored Monaco tree (min/vs, trimmed) from the pinned npm tarball.
# Usage: ./update.sh            (needs npm, tar, sha256sum; run from anywhere)
# Keeps: the AMD loader, the editor, the JavaScript/TypeScript language and
# its worker, the codicon font, LICENSE and ThirdPartyNotices. Drops every
# other language, the translations and the source maps (a few MB instead of 14).
set -euo pipefail
VERSION=0.52.2
SHA256=c280cdcf0b0c13d1a2bf01af958d4387ed06d7f6c918401d00c4adcae1bc72b6
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "monaco-editor@$VERSION" >/dev/null)
echo "$SHA256  $tmp/monaco-editor-$VERSION.tgz" | sha256sum -c -
tar -xzf "$tmp/monaco-editor-$VERSION.tgz" -C "$tmp"
src="$tmp/package/min/vs"
rm -rf "$here/min"
keep=(
  loader.js
  editor/editor.main.js
  editor/editor.main.css
  base/worker/workerMain.js
  base/browser/ui/codicons/codicon/codicon.ttf
  basic-languages/javascript/javascript.js
  basic-languages/typescript/typescript.js
  language/typescript/tsMode.js
  language/typescript/tsWorker.js
)
for f in "${keep[@]}"; do
  install -D -m 0644 "$src/$f" "$here/min/vs/$f"
done
cp "$tmp/package/LICENSE" "$here/LICENSE"
cp "$tmp/package/ThirdPartyNotices.txt" "$here/ThirdPartyNotices.txt"
du -sh "$here/min"
