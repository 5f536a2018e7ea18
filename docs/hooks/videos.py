"""MkDocs hook: embeds a walkthrough video where a page says ``<!-- video: NAME | Title -->``.

The videos are built by ``scripts/make-videos`` into ``docs/videos/NAME.mp4``
and never committed. When the file is there, the marker becomes a ``<video>``
player; when it is not, a note says how to make it. Either way the build
stays ``--strict`` clean: the page links to nothing that is missing.
"""

from __future__ import annotations

import html
import re
from typing import Any

from mkdocs.utils import get_relative_url

MARKER = re.compile(r"<!--\s*video:\s*([a-z0-9-]+)\s*\|\s*(.+?)\s*-->")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    def embed(match: re.Match[str]) -> str:
        name, title = match.group(1), html.escape(match.group(2))
        video = files.get_file_from_path(f"videos/{name}.mp4")
        if video is None:
            return (
                f'!!! note "Video: {title}"\n'
                f"    This build has no video `{name}.mp4`: `scripts/make-videos` records it"
                " from the browser tours, then build the site again (see"
                " Operations, Tests and coverage, *Making the videos*).\n"
            )
        src = get_relative_url(video.url, page.url)
        return (
            f'<figure class="iota-video">\n'
            f'<video controls preload="metadata" width="100%" src="{src}" title="{title}"></video>\n'
            f"<figcaption>{title}</figcaption>\n</figure>\n"
        )

    return MARKER.sub(embed, markdown)
