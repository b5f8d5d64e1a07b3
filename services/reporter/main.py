"""The reporter's composition root: ReportRequested -> report.md + charts + PDF -> ReportWritten.

With a model configured for the reporter (SIMSWARM_REPORTER_LLM_URL and _MODEL) the sections are
written by it with tools over the artifacts and checked (llm_report.py); otherwise, or when that
fails, they are computed. It is an artifact worker (services/kit/worker.py): idempotent (outputs
rewritten in place, the emitted event with a deterministic id, so a redelivered request yields a
duplicate the stream drops); missing or corrupt artifacts fail the report at once (ReportFailed); an
unreachable object store is retried through the bus's backoff and, on the last allowed delivery,
also becomes ReportFailed so the job ends with a clear reason.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from contracts.artifacts import REPORT_FILE, ArtifactRef
from contracts.events import ReportFailed, ReportRequested, ReportWritten
from contracts.objects import report_key
from contracts.results import RESULT_FILE
from services.kit.bus import Bus, Delivery
from services.kit.objectstore import ObjectStore
from services.kit.settings import Settings
from services.kit.worker import ArtifactWorker
from services.reporter.artifacts import REPORT_INPUTS, RunArtifacts, decode_artifacts
from services.reporter.charts import render_charts
from services.reporter.compose import Report, compose_report
from services.reporter.llm_report import ReporterLLM, write_llm_report
from services.reporter.pdf import render_pdf
from services.reporter.pool import render_in_pool, warm
from services.reporter.result import build_result

log = logging.getLogger(__name__)

PDF_FILE = "report.pdf"
SUMMARY_CHARS = 600


@dataclass(frozen=True)
class RenderedReport:
    markdown: str
    charts: dict[str, bytes]
    pdf: bytes
    verdict: str
    summary: str


def render_report(files: dict[str, bytes]) -> RenderedReport:
    """Artifacts in, every output of the computed report out (CPU only; run it off the event loop)."""
    art = decode_artifacts(files)
    return render_composed(art, compose_report(art))


def decode_and_compose(files: dict[str, bytes]) -> tuple[RunArtifacts, Report]:
    """The decoded artifacts and the computed report (CPU only)."""
    art = decode_artifacts(files)
    return art, compose_report(art)


def render_composed(art: RunArtifacts, report: Report) -> RenderedReport:
    """Charts, markdown and PDF of a report, computed or LLM-written (CPU only)."""
    markdown = report.markdown()
    charts = render_charts(art)
    created = _manifest_time(art.manifest.created_at)
    summary = (
        report.summary if len(report.summary) <= SUMMARY_CHARS else report.summary[: SUMMARY_CHARS - 1] + "…"
    )
    return RenderedReport(markdown, charts, render_pdf(markdown, charts, created), report.verdict, summary)


def _manifest_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime(2000, 1, 1, tzinfo=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Reporter(ArtifactWorker):
    """Handles ReportRequested deliveries (services/kit/worker.py does the consuming and failing)."""

    service = "reporter"
    trigger = ReportRequested
    inputs = REPORT_INPUTS
    failed = ReportFailed
    what = "report"

    def __init__(self, bus: Bus, store: ObjectStore, settings: Settings, max_deliver: int) -> None:
        super().__init__(bus, store, settings, max_deliver)
        self.llm = reporter_llm(settings)
        warm()  # the render processes start while the consumer connects

    async def produce(self, event: ReportRequested, files: dict[str, bytes], delivery: Delivery) -> None:
        await delivery.in_progress()
        art, report = await asyncio.to_thread(decode_and_compose, files)
        if self.llm is not None:
            # The model writes the report with tools over the artifacts; on any failure (or citations
            # that do not exist) the computed report stands.
            report = await write_llm_report(art, report, self.llm, heartbeat=delivery.in_progress) or report
            await delivery.in_progress()
        # charts and PDF in a render process: on every core, not behind this process's GIL (pool.py)
        rendered = await render_in_pool(render_composed, art, report)
        await delivery.in_progress()
        outputs: list[tuple[str, bytes, str]] = [
            *((name, png, "image/png") for name, png in sorted(rendered.charts.items())),
            (PDF_FILE, rendered.pdf, "application/pdf"),
            # the report as data (contracts.results): what GET /api/jobs/{id} shows once complete
            (RESULT_FILE, msgspec.json.encode(build_result(art, report)), "application/json"),
            # report.md last: its presence means the whole report is there.
            (REPORT_FILE, rendered.markdown.encode(), "text/markdown; charset=utf-8"),
        ]
        refs: list[ArtifactRef] = []
        for name, data, content_type in outputs:
            refs.append(await self.store.put_bytes(report_key(event.job_id, name), data, content_type))
        ack = await self.publish_outcome(
            ReportWritten,
            event,
            report_key=report_key(event.job_id, REPORT_FILE),
            artifacts=refs,
            verdict=rendered.verdict,
            summary=rendered.summary,
        )
        log.info(
            "report for job %s written (seq %s%s)",
            event.job_id,
            ack.seq,
            ", duplicate" if ack.duplicate else "",
        )


def reporter_llm(settings: Settings) -> ReporterLLM | None:
    """The reporter's model from the settings (SIMSWARM_REPORTER_LLM_URL and _MODEL), or None."""
    if not (settings.reporter_llm_url and settings.reporter_llm_model):
        return None
    return ReporterLLM(
        url=settings.reporter_llm_url,
        model=settings.reporter_llm_model,
        api_key=settings.reporter_llm_api_key,
    )


# ReportRequested consumed until `stop` is set (the service's entry: services/kit/service.py runs it).
serve = Reporter.serve
