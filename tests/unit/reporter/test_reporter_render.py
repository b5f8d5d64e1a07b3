"""The rendered outputs: markdown that references the charts it ships with, PNGs, and a PDF."""

from __future__ import annotations

import re

from services.reporter.main import render_report
from tests.unit.reporter.reporter_samples import sample_files


def test_render_report_outputs_charts_the_markdown_references_and_a_pdf() -> None:
    out = render_report(sample_files())
    referenced = set(re.findall(r"!\[[^\]]*\]\(([^)]+)\)", out.markdown))
    assert referenced == set(out.charts) == {"market_curves.png", "belief_distribution.png"}
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in out.charts.values())
    assert out.pdf.startswith(b"%PDF-") and len(out.pdf) > 20_000  # the charts are embedded
    assert out.verdict in out.markdown
    assert out.summary and out.summary in out.markdown


def test_render_report_is_byte_for_byte_repeatable() -> None:
    a, b = render_report(sample_files()), render_report(sample_files())
    assert a.markdown == b.markdown
    assert a.charts == b.charts
    assert a.pdf == b.pdf


def test_pdf_survives_text_outside_latin1() -> None:
    from services.reporter.pdf import render_pdf

    pdf = render_pdf("# Überschrift — “quotes”\n\n- Ελληνικά, 中文 and 🚀 in a post\n", {})
    assert pdf.startswith(b"%PDF-")
