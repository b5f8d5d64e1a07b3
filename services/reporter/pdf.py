"""A PDF of the whole report (fpdf2): headings, paragraphs, lists and the charts, from report.md."""

from __future__ import annotations

import io
import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import matplotlib
from fpdf import FPDF
from fpdf.enums import XPos, YPos

_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_IMAGE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<name>[^)]+)\)\s*$")
_INLINE = re.compile(r"\*\*|`")


def _plain(text: str) -> str:
    """Inline markdown (bold, code spans) dropped: the PDF shows the words."""
    return _INLINE.sub("", text)


def render_pdf(markdown: str, images: dict[str, bytes], created_at: datetime | None = None) -> bytes:
    """Lay out the report's markdown as a PDF, embedding the PNGs the markdown references by name.

    Uses matplotlib's DejaVu fonts so any text the agents wrote (accents, dashes, quotes) renders.
    """
    logging.getLogger("fpdf").setLevel(logging.ERROR)  # missing-glyph chatter for emoji
    pdf = FPDF(format="A4")
    pdf.set_creation_date(created_at or datetime(2000, 1, 1, tzinfo=UTC))
    pdf.add_font("DejaVu", "", str(_FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(_FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    sizes = {"# ": 16.0, "## ": 13.0, "### ": 11.0}
    for raw in markdown.splitlines():
        line = raw.rstrip()
        if not line:
            pdf.ln(2)
            continue
        heading = next((p for p in ("### ", "## ", "# ") if line.startswith(p)), None)
        if heading:
            pdf.ln(2)
            pdf.set_font("DejaVu", "B", sizes[heading])
            pdf.multi_cell(
                width,
                sizes[heading] * 0.55,
                _plain(line[len(heading) :]),
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
            )
            pdf.ln(1)
            continue
        image = _IMAGE.match(line)
        if image:
            data = images.get(image["name"])
            if data is not None:
                pdf.image(io.BytesIO(data), w=width)
            continue
        pdf.set_font("DejaVu", "", 9.5)
        bullet = re.match(r"^(\s*)(- |\d+\. )", line)
        if bullet:
            indent = 4.0 + 3.0 * len(bullet.group(1))
            pdf.set_x(pdf.l_margin + indent)
            marker = "•" if bullet.group(2) == "- " else bullet.group(2).strip()
            pdf.multi_cell(
                width - indent,
                4.8,
                f"{marker} {_plain(line[bullet.end() :])}",
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
            )
        else:
            pdf.multi_cell(width, 4.8, _plain(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
