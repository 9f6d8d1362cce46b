"""Markdown and HTML (inline CSS + SVG, printable, no scripts or network) for a residency :class:`Report`."""

from __future__ import annotations

from html import escape

from regiongate.residency.inventory import Flow
from regiongate.residency.junit import FAILED, PASSED, SKIPPED
from regiongate.residency.policy import partition_of
from regiongate.residency.report_data import OPEN_ACKNOWLEDGED, Report, StackReport, rows_for_kind
from regiongate.residency.rules import RULES
from regiongate.residency.sealed import sentences as sealed_sentences

NOT_STORED = "not stored"
NOT_MARKED = "No resource in any template is marked as holding it."

# What the report can and cannot show (its method, not a finding): the findings themselves are computed below.
SCOPE_NOTES = (
    "What the templates show: every resource of these stacks, its region, its key and its retention; and, for every "
    "property the rule pack checks (see Rules), whether a resource replicates or ships data to another region or "
    "account (see Rule pack findings).",
    "What they cannot prove: what the code does with content at run time (see the run-time test results below), how "
    "the configured providers process prompts (their contracts and the listed processing regions), and resources "
    "created outside CloudFormation.",
    "Recommended backstop, not part of these stacks and not checked here: an organisation SCP denying "
    "aws:RequestedRegion outside each account's region.",
)


def _sources(report: Report) -> str:
    """Where the report's content comes from, naming only the sources it actually read."""
    sources = [f"the synthesized CloudFormation templates in `{report.cdk_out}`"]
    if any(s.providers or s.application_retention for s in report.stacks):
        sources.append("the configuration (inference providers, audit retention)")
    results = report.test_results
    if results is not None and not results.problem:
        sources.append(f"the test results in `{results.path}`")
    return "; ".join(sources)


def _runtime_sentence(report: Report) -> str:
    """What the test results say about a kind no resource may hold, computed from the results read."""
    results = report.test_results
    if results is None:
        return "Whether it is kept at run time is not shown: no test results were given to the report."
    if results.problem:
        return f"Whether it is kept at run time is not shown: {results.problem}."
    if results.all_passed:
        return f"At run time: the {len(results.outcomes)} run-time test(s) below passed ({results.recorded_at})."
    return f"At run time: the run-time tests below did not all pass: {results.summary()}."


def _kind_note(report: Report, kind: str) -> str:
    return f"{NOT_MARKED} {_runtime_sentence(report)}" if kind in report.data_kinds.never_stored else NOT_MARKED


def _marked_never_stored_note(report: Report, kind: str) -> str:
    return (
        f"These resources are marked as holding {report.data_kinds.title(kind)}, which no resource may hold "
        f"(`{report.data_kinds.metadata_key}` metadata)."
    )


def _unclassified_note(report: Report) -> str:
    where = f" ({report.data_kinds.where_to_mark})" if report.data_kinds.where_to_mark else ""
    return (
        f"These resources can hold data but carry no `{report.data_kinds.metadata_key}` metadata: say what they "
        f"hold{where} before deploying."
    )


def _findings_summary(report: Report) -> str:
    acknowledged = sum(len(s.acknowledgements) for s in report.stacks)
    return (
        f"None open: {len(RULES)} rules ran on {len(report.stacks)} stack(s); "
        f"{acknowledged} acknowledged finding(s) below."
    )


def _runtime_lines(report: Report) -> tuple[str, list[tuple[str, str]]]:
    """(the summary sentence, [(test id, outcome)]) of the run-time test results."""
    results = report.test_results
    if results is None:
        return "No test results were given to the report: nothing at run time is shown.", []
    if results.problem:
        return results.problem, []
    shown = {PASSED: "passed", FAILED: "FAILED", SKIPPED: "skipped"}
    rows = [
        (o.test_id, shown[o.status] + (f" ({o.message})" if o.message and o.status != PASSED else ""))
        for o in results.outcomes
    ]
    return results.summary(), rows


def _deployed_to(stack: StackReport) -> str:
    return f"Stack deployed to AWS {stack.region} ({partition_of(stack.region)}), account {stack.account}"


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def _stack_rows(report: Report) -> list[list[str]]:
    return [
        [
            s.name,
            s.policy.home_region,
            s.policy.geography,
            s.policy.partition,
            s.account,
            ", ".join(s.policy.inference_regions),
            s.policy_source,
            s.application_retention or "-",
        ]
        for s in report.stacks
    ]


MODEL_HEADERS = ["Stack", "Model", "Provider", "May be processed in", "Under"]


def _model_rows(report: Report) -> list[list[str]]:
    """Per model: its processing regions, and whether that is the stack's promise or an opted-in wider area."""
    rows = []
    for s in report.stacks:
        for m in s.models:
            under = (
                f"WIDER AREA opted in: {m.area} ({', '.join(m.area_regions)})"
                if m.area
                else f"the stack's promise (inference regions {', '.join(s.policy.inference_regions)})"
            )
            rows.append([s.name, m.name, m.provider, ", ".join(m.processing_regions) or "-", under])
    return rows


def _provider_rows(report: Report) -> list[list[str]]:
    return [
        [s.name, p.name, p.type, p.where, ", ".join(p.may_process_in) or "-"]
        for s in report.stacks
        for p in s.providers
    ]


STACK_HEADERS = [
    "Stack",
    "Home region",
    "Geography",
    "Partition",
    "Account",
    "Inference may run in",
    "Policy from",
    "Audit records kept (configured)",
]
PROVIDER_HEADERS = ["Stack", "Provider", "Type", "Region / endpoint", "May process prompts in"]
STORED_HEADERS = ["Stack", "Resource", "Type", "Region", "Encrypted with", "Kept for"]


def _stored_rows(report: Report, kind: str) -> list[list[str]]:
    return [
        [stack.name, item.logical_id, item.resource_type, item.region, item.key, item.retention]
        for stack, item in rows_for_kind(report, kind)
    ]


def _unclassified_rows(report: Report) -> list[list[str]]:
    return [
        [stack.name, item.logical_id, item.resource_type, item.region, item.key, item.retention]
        for stack in report.stacks
        for item in stack.unclassified
    ]


def _sealed_sections(report: Report) -> list[tuple[str, list[str]]]:
    """(title, sentences) per kind of sealed secrets, each stack's sentences prefixed with the stack."""
    sections = []
    for spec in report.data_kinds.sealed:
        title = report.data_kinds.title(spec.kind)
        lines = [
            f"{stack.name} ({stack.region}): {line}"
            for stack in report.stacks
            for placement in stack.sealed
            if placement.kind == spec.kind
            for line in sealed_sentences(placement, spec)
        ]
        if lines:
            sections.append((title, lines))
    return sections


def _finding_rows(report: Report, acknowledged: bool) -> list[list[str]]:
    """The open findings (``acknowledged=False``: unacknowledged and open-acknowledged) or the closed ones."""
    rows = []
    for stack in report.stacks:
        for f in stack.acknowledgements if acknowledged else stack.open_findings:
            message = f.message
            if f.state == OPEN_ACKNOWLEDGED:
                message += (
                    f" [{OPEN_ACKNOWLEDGED}: synthesis passes because the operator acknowledged it"
                    f"{' on ' + f.acknowledged_at if f.acknowledged_at else ''}; not fixed: {f.reason}]"
                )
            row = [stack.name, f.rule_id, f.logical_id, f.resource_type, message]
            if acknowledged:
                row += [f.reason or "(no reason recorded)", f.acknowledged_at]
            rows.append(row)
    return rows


NETWORK_HEADERS = ["Way out", "To", "Ends in", "Detail"]
NO_WAY_OUT = "No way out of the VPC in this template: no VPC endpoint, no DNS-allowed host, no NAT gateway."


def _network_rows(stack: StackReport) -> list[list[str]]:
    return [[path.kind, path.target, path.ends_in, path.detail] for path in stack.network]


def _network_note(stack: StackReport) -> str:
    outside = sorted({p.ends_in for p in stack.network if p.ends_in.split(" ")[0] != stack.region})
    if not stack.network:
        return NO_WAY_OUT
    if not outside:
        return f"Every way out of {stack.name}'s VPC ends in {stack.region}."
    return f"Ways out of {stack.name}'s VPC that do not end in {stack.region} itself: {'; '.join(outside)}."


def _flow_text(flow: Flow) -> list[str]:
    lines = [" → ".join(f"{n.label} [{n.detail}]" for n in chain) for chain in flow.chains]
    return lines + flow.notes


def render_markdown(report: Report) -> str:
    out = [
        "# Residency report",
        "",
        f"Generated {report.generated_at} from {_sources(report)}. Every table below is computed from these; "
        "nothing is written by hand.",
        "",
    ]
    out += [f"> {note}" for note in report.notes] + ([""] if report.notes else [])
    out += ["## Scope", ""] + [f"- {note}" for note in SCOPE_NOTES] + [""]
    out += ["## Stacks", ""] + _md_table(STACK_HEADERS, _stack_rows(report)) + [""]
    providers = _provider_rows(report)
    if providers:
        out += ["### Inference providers (from the configuration)", ""] + _md_table(PROVIDER_HEADERS, providers) + [""]
    models = _model_rows(report)
    if models:
        out += ["### Model processing (from the configuration)", ""] + _md_table(MODEL_HEADERS, models) + [""]

    out += ["## What is stored where", ""]
    for kind in report.kinds():
        rows = _stored_rows(report, kind)
        out += [f"### {report.data_kinds.title(kind)}", ""]
        if not rows:
            out += [f"**{NOT_STORED}**. {_kind_note(report, kind)}", ""]
            continue
        if kind in report.data_kinds.never_stored:
            out += [f"**{_marked_never_stored_note(report, kind)}**", ""]
        out += _md_table(STORED_HEADERS, rows) + [""]
    for title, lines in _sealed_sections(report):
        out += [f"### {title}: where they are sealed and opened", ""] + [f"- {line}" for line in lines] + [""]
    unclassified = _unclassified_rows(report)
    out += ["### Unclassified stateful resources", ""]
    if unclassified:
        out += [f"**{_unclassified_note(report)}**", ""] + _md_table(STORED_HEADERS, unclassified) + [""]
    else:
        out += ["None: every stateful resource says what it holds.", ""]

    out += ["## Rule pack findings", ""]
    open_rows = _finding_rows(report, acknowledged=False)
    if open_rows:
        out += [f"**{len(open_rows)} open finding(s).**", ""]
        out += _md_table(["Stack", "Rule", "Resource", "Type", "Finding"], open_rows) + [""]
    else:
        out += [_findings_summary(report), ""]
    out += ["### Acknowledged findings", ""]
    ack_rows = _finding_rows(report, acknowledged=True)
    if ack_rows:
        out += _md_table(["Stack", "Rule", "Resource", "Type", "Finding", "Reason", "Acknowledged on"], ack_rows) + [""]
    else:
        out += ["None.", ""]

    out += ["## Request flow", ""]
    for stack in report.stacks:
        out += [f"### {stack.name} ({stack.region})", "", f"{_deployed_to(stack)}.", ""]
        out += [f"- {line}" for line in _flow_text(stack.flow)] + [""]

    out += ["## Network paths", ""]
    for stack in report.stacks:
        out += [f"### {stack.name} ({stack.region})", "", _network_note(stack), ""]
        if stack.network:
            out += _md_table(NETWORK_HEADERS, _network_rows(stack)) + [""]

    out += ["## Zero retention at run time", ""]
    summary, runtime_rows = _runtime_lines(report)
    passed = report.test_results is not None and report.test_results.all_passed
    out += [
        "Templates cannot show what happens to content at run time; the recorded results of the tests that check it:",
        "",
        summary if passed else f"**{summary}**",
        "",
    ]
    out += [f"- `{test_id}`: {outcome}" for test_id, outcome in runtime_rows]
    out += ["", "## Rules", ""]
    out += _md_table(["Rule", "Forbids"], [[r.id, r.forbids] for r in RULES]) + [""]
    return "\n".join(out)


# --- HTML ------------------------------------------------------------------------------------------

CSS = """
@page { size: A4; margin: 16mm 14mm; }
body { font-family: "Helvetica Neue", Arial, sans-serif; color: #1a1a1a; max-width: 1100px; margin: 0 auto; padding: 24px; font-size: 13px; line-height: 1.45; }
h1 { font-size: 24px; border-bottom: 3px solid #1f3a5f; padding-bottom: 6px; margin-bottom: 4px; }
h2 { font-size: 18px; color: #1f3a5f; margin-top: 28px; border-bottom: 1px solid #c9d3df; padding-bottom: 3px; }
h3 { font-size: 14px; margin: 18px 0 6px; }
.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; page-break-inside: auto; }
tr { page-break-inside: avoid; }
th, td { border: 1px solid #c9d3df; padding: 4px 6px; text-align: left; vertical-align: top; overflow-wrap: break-word; }
th { background: #eef2f7; font-weight: 600; }
td.mono, code { font-family: "SFMono-Regular", Menlo, Consolas, monospace; font-size: 11.5px; word-break: break-all; }
.ok { color: #1d6b2f; font-weight: 600; }
.bad { color: #a4161a; font-weight: 600; }
.note { background: #fff7e0; border-left: 4px solid #e0a800; padding: 6px 10px; }
.notstored { background: #eef7ef; border-left: 4px solid #1d6b2f; padding: 6px 10px; }
.flow { page-break-inside: avoid; margin-bottom: 14px; }
svg text { font-family: "Helvetica Neue", Arial, sans-serif; }
@media print { body { padding: 0; max-width: none; } h2 { page-break-after: avoid; } .flow, table { break-inside: avoid-page; } }
"""


def _table(headers: list[str], rows: list[list[str]], mono: tuple[int, ...] = ()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    mono_cell = ' class="mono"'
    body = "".join(
        "<tr>"
        + "".join(f"<td{mono_cell if i in mono else ''}>{escape(str(c))}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 200, 62, 40, 30, 12


def _detail_lines(detail: str, x: float, y: float) -> str:
    """Up to two lines of small text under a box title, cut at 40 characters each."""
    words, lines, current = detail.replace(";", ";|").split(), [], ""
    for word in words:
        candidate = f"{current} {word}".strip()
        if len(candidate.replace("|", "")) > 40 and current:
            lines.append(current)
            current = word
        else:
            current = candidate
    lines.append(current)
    if len(lines) > 2:
        lines = [lines[0], lines[1][:37] + "…"]
    return "".join(
        f'<text x="{x}" y="{y + i * 12}" text-anchor="middle" font-size="9.5" fill="#444">{escape(line.replace("|", ""))}</text>'
        for i, line in enumerate(lines)
    )


def flow_svg(stack: StackReport) -> str:
    """The stack's request flow as an inline SVG: one row per chain, shared boxes drawn once."""
    chains = stack.flow.chains
    if not chains:
        return f'<p class="note">{escape(" ".join(stack.flow.notes) or "No request flow found.")}</p>'
    positions: dict[str, tuple[int, int]] = {}
    boxes, arrows = [], []
    row = 0
    for chain in chains:
        # A chain that starts at an already drawn node continues from that node's column on a new row.
        start_col = positions[chain[0].id][0] if chain[0].id in positions and chain[0].id != "client" else 0
        prev = None
        col = start_col
        for node in chain:
            if node.id in positions and node.id != "client":
                pos = positions[node.id]
            else:
                pos = (col, row)
                key = node.id if node.id != "client" else f"client{row}"
                positions.setdefault(node.id, pos)
                positions[key] = pos
                x, y = MARGIN + pos[0] * (BOX_W + GAP_X), MARGIN + pos[1] * (BOX_H + GAP_Y)
                stroke = "#1f3a5f" if node.found else "#a4161a"
                dash = "" if node.found else ' stroke-dasharray="5,3"'
                fill = "#eef2f7" if node.id != "client" else "#ffffff"
                boxes.append(
                    f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="1.5"{dash}/>'
                    f'<text x="{x + BOX_W / 2}" y="{y + 22}" text-anchor="middle" font-size="12" font-weight="600">{escape(node.label)}</text>'
                    + _detail_lines(node.detail, x + BOX_W / 2, y + 37)
                )
            if prev is not None:
                arrows.append((prev, pos))
            prev = pos
            col = pos[0] + 1
        row += 1
    lines = []
    for (c1, r1), (c2, r2) in arrows:
        x1 = MARGIN + c1 * (BOX_W + GAP_X) + (BOX_W if r1 == r2 else BOX_W / 2)
        y1 = MARGIN + r1 * (BOX_H + GAP_Y) + (BOX_H / 2 if r1 == r2 else BOX_H)
        x2 = MARGIN + c2 * (BOX_W + GAP_X)
        y2 = MARGIN + r2 * (BOX_H + GAP_Y) + BOX_H / 2
        if r1 == r2:
            lines.append(
                f'<line x1="{x1}" y1="{y1}" x2="{x2 - 2}" y2="{y2}" stroke="#1f3a5f" stroke-width="1.5" marker-end="url(#arrow)"/>'
            )
        elif r2 < r1:  # back up to a box drawn on an earlier row: right, then up into its bottom edge
            sx = MARGIN + c1 * (BOX_W + GAP_X) + BOX_W
            sy = MARGIN + r1 * (BOX_H + GAP_Y) + BOX_H / 2
            tx = MARGIN + c2 * (BOX_W + GAP_X) + BOX_W / 2
            ty = MARGIN + r2 * (BOX_H + GAP_Y) + BOX_H
            lines.append(
                f'<polyline points="{sx},{sy} {tx},{sy} {tx},{ty + 2}" fill="none" stroke="#1f3a5f" stroke-width="1.5" marker-end="url(#arrow)"/>'
            )
        else:
            lines.append(
                f'<polyline points="{x1},{y1} {x1},{y2} {x2 - 2},{y2}" fill="none" stroke="#1f3a5f" stroke-width="1.5" marker-end="url(#arrow)"/>'
            )
    cols = max(c for c, _ in positions.values()) + 1
    width = MARGIN * 2 + cols * BOX_W + (cols - 1) * GAP_X
    height = MARGIN * 2 + row * BOX_H + (row - 1) * GAP_Y + 18
    region = escape(_deployed_to(stack))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Request flow of {escape(stack.name)}" '
        f'width="100%" style="max-width:{width}px" viewBox="0 0 {width} {height}">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#1f3a5f"/></marker></defs>'
        + "".join(lines)
        + "".join(boxes)
        + f'<text x="{MARGIN}" y="{height - 4}" font-size="10" fill="#555">{region}</text></svg>'
    )


def render_html(report: Report) -> str:
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        "<title>Residency report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Residency report</h1>",
        f'<p class="meta">Generated {escape(report.generated_at)} from {escape(_sources(report))}. '
        "Every table and picture is computed from these; nothing is written by hand.</p>",
    ]
    parts += [f'<p class="note">{escape(n)}</p>' for n in report.notes]
    open_count = report.open_finding_count
    summary_class = "ok" if open_count == 0 else "bad"
    parts.append(
        f'<p class="{summary_class}">{len(report.stacks)} stack(s), {len(RULES)} residency rules, '
        f"{open_count} open finding(s), {sum(len(s.acknowledgements) for s in report.stacks)} acknowledged.</p>"
    )
    parts.append("<h2>Scope</h2><ul>" + "".join(f"<li>{escape(note)}</li>" for note in SCOPE_NOTES) + "</ul>")
    parts += ["<h2>Stacks</h2>", _table(STACK_HEADERS, _stack_rows(report))]
    providers = _provider_rows(report)
    if providers:
        parts += ["<h3>Inference providers (from the configuration)</h3>", _table(PROVIDER_HEADERS, providers)]
    models = _model_rows(report)
    if models:
        parts += ["<h3>Model processing (from the configuration)</h3>", _table(MODEL_HEADERS, models)]

    parts.append("<h2>What is stored where</h2>")
    for kind in report.kinds():
        rows = _stored_rows(report, kind)
        parts.append(f"<h3>{escape(report.data_kinds.title(kind))}</h3>")
        if not rows:
            parts.append(f'<p class="notstored"><b>{NOT_STORED}</b>. {escape(_kind_note(report, kind))}</p>')
            continue
        if kind in report.data_kinds.never_stored:
            parts.append(f'<p class="bad">{escape(_marked_never_stored_note(report, kind))}</p>')
        parts.append(_table(STORED_HEADERS, rows, mono=(1,)))
    for title, lines in _sealed_sections(report):
        parts.append(f"<h3>{escape(title)}: where they are sealed and opened</h3>")
        parts.append("<ul>" + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>")
    parts.append("<h3>Unclassified stateful resources</h3>")
    unclassified = _unclassified_rows(report)
    if unclassified:
        parts.append(
            f'<p class="bad">{escape(_unclassified_note(report))}</p>' + _table(STORED_HEADERS, unclassified, mono=(1,))
        )
    else:
        parts.append('<p class="ok">None: every stateful resource says what it holds.</p>')

    parts.append("<h2>Rule pack findings</h2>")
    open_rows = _finding_rows(report, acknowledged=False)
    if open_rows:
        parts.append(f'<p class="bad">{len(open_rows)} open finding(s).</p>')
        parts.append(_table(["Stack", "Rule", "Resource", "Type", "Finding"], open_rows, mono=(2, 4)))
    else:
        parts.append(f'<p class="ok">{escape(_findings_summary(report))}</p>')
    parts.append("<h3>Acknowledged findings</h3>")
    ack_rows = _finding_rows(report, acknowledged=True)
    parts.append(
        _table(["Stack", "Rule", "Resource", "Type", "Finding", "Reason", "Acknowledged on"], ack_rows, mono=(2, 4, 6))
        if ack_rows
        else "<p>None.</p>"
    )

    parts.append("<h2>Request flow</h2>")
    for stack in report.stacks:
        parts.append(f'<div class="flow"><h3>{escape(stack.name)} ({escape(stack.region)})</h3>{flow_svg(stack)}</div>')

    parts.append("<h2>Network paths</h2>")
    for stack in report.stacks:
        parts.append(f"<h3>{escape(stack.name)} ({escape(stack.region)})</h3><p>{escape(_network_note(stack))}</p>")
        if stack.network:
            parts.append(_table(NETWORK_HEADERS, _network_rows(stack), mono=(1,)))

    parts.append("<h2>Zero retention at run time</h2>")
    parts.append(
        "<p>Templates cannot show what happens to content at run time; the recorded results of the tests that "
        "check it:</p>"
    )
    summary, runtime_rows = _runtime_lines(report)
    passed = report.test_results is not None and report.test_results.all_passed
    parts.append(f'<p class="{"ok" if passed else "bad"}">{escape(summary)}</p>')
    if runtime_rows:
        parts.append(
            "<ul>"
            + "".join(f"<li><code>{escape(t)}</code>: {escape(outcome)}</li>" for t, outcome in runtime_rows)
            + "</ul>"
        )
    parts.append("<h2>Rules</h2>")
    parts.append(_table(["Rule", "Forbids", "Why", "Fix"], [[r.id, r.forbids, r.why, r.fix] for r in RULES]))
    parts.append("</body></html>")
    return "\n".join(parts)


__all__ = ["flow_svg", "render_html", "render_markdown"]
