"""Pure functions behind the dashboard views: tables (pandas) and escaped HTML for examples.

Nothing here touches Streamlit or files. All text from data sets goes through `html.escape`, so a
context that contains HTML or markdown shows as text. The HTML is rendered with `st.html`, which
does not interpret markdown.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Sequence
from typing import Any

import pandas as pd

FILTERS = ("all", "wrong only", "A right, B wrong", "B right, A wrong")
_CLUSTER_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


# --- tables ------------------------------------------------------------------------------------


def task_metrics_table(summary: pd.DataFrame, task: str) -> pd.DataFrame:
    """Every metric of `task`: one row per model (and config), mean / std / n columns per metric."""
    part = summary[summary["task"] == task]
    if part.empty:
        return pd.DataFrame()
    wide = part.pivot_table(index=["model", "config_key"], columns="metric", values=["mean", "std", "n"])
    wide.columns = [f"{metric} {stat}" for stat, metric in wide.columns]
    ordered = sorted(
        wide.columns, key=lambda c: (c.rsplit(" ", 1)[0], ["mean", "std", "n"].index(c.rsplit(" ", 1)[1]))
    )
    return wide[ordered].reset_index()


def breakdown_chart_data(breakdowns: pd.DataFrame, task: str, table: str, metric: str) -> pd.DataFrame:
    """bucket x model means (bucket order as recorded), for a side-by-side bar chart."""
    part = breakdowns[
        (breakdowns["task"] == task) & (breakdowns["table"] == table) & (breakdowns["metric"] == metric)
    ]
    order = list(dict.fromkeys(part["bucket"]))
    wide = part.pivot_table(index="bucket", columns="model", values="mean", aggfunc="mean")
    return wide.reindex(order)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{'train.learning_rate': 2e-05, ...} from nested dicts."""
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, inner in value.items():
        out |= flatten(inner, f"{prefix}.{key}" if prefix else str(key))
    return out


def config_diff(config_a: dict[str, Any], config_b: dict[str, Any]) -> pd.DataFrame:
    """Keys whose values differ between two configs (missing shown as '<absent>'), sorted by key."""
    flat_a, flat_b = flatten(config_a or {}), flatten(config_b or {})
    rows = [
        {"key": k, "run A": repr(flat_a.get(k, "<absent>")), "run B": repr(flat_b.get(k, "<absent>"))}
        for k in sorted(flat_a.keys() | flat_b.keys())
        if flat_a.get(k, "<absent>") != flat_b.get(k, "<absent>")
    ]
    return pd.DataFrame(rows, columns=["key", "run A", "run B"])


def run_summary(record: dict[str, Any]) -> pd.DataFrame:
    """Provenance of one run as (field, value) rows: model revision, data fingerprints, environment."""
    model, env, data = record.get("model") or {}, record.get("environment") or {}, record.get("data") or {}
    rows = [
        ("run_id", record["run_id"]),
        ("task", record["task"]),
        ("task_version", record.get("task_version")),
        ("seed", record["seed"]),
        ("command", record.get("command")),
        ("started_at", record.get("started_at")),
        ("wall_s", record.get("wall_s")),
        ("gpu_hours", record.get("gpu_hours")),
    ]
    rows += [(f"model.{k}", v) for k, v in flatten(model).items()]
    rows += [(f"data.{k}", v) for k, v in flatten(data).items()]
    rows += [(f"environment.{k}", v) for k, v in env.items()]
    return pd.DataFrame([(k, "" if v is None else str(v)) for k, v in rows], columns=["field", "value"])


# --- examples: right / wrong and filters -------------------------------------------------------


def is_right(row: dict[str, Any]) -> bool:
    """QA: exact match; relations: label equal; coreference: predicted clusters equal gold clusters."""
    if "exact" in row:
        return float(row["exact"]) >= 1
    if "gold_clusters" in row:
        return _cluster_set(row["gold_clusters"]) == _cluster_set(row.get("predicted_clusters", []))
    return row.get("gold") == row.get("predicted")


def _cluster_set(clusters: Sequence) -> frozenset:
    return frozenset(frozenset(tuple(m) for m in cluster) for cluster in clusters)


def filter_ids(rows_a: Sequence[dict], rows_b: Sequence[dict] | None, mode: str) -> list[str]:
    """Example ids of run A (in order) passing `mode` (one of FILTERS); B filters need run B."""
    if mode not in FILTERS:
        raise ValueError(f"unknown filter {mode!r}; known: {', '.join(FILTERS)}")
    right_b = {r["id"]: is_right(r) for r in rows_b or []}
    out = []
    for row in rows_a:
        a_right, b_right = is_right(row), right_b.get(row["id"])
        keep = {
            "all": True,
            "wrong only": not a_right,
            "A right, B wrong": a_right and b_right is False,
            "B right, A wrong": not a_right and b_right is True,
        }[mode]
        if keep:
            out.append(row["id"])
    return out


# --- examples: escaped HTML --------------------------------------------------------------------


def highlight_spans(text: str, spans: dict[str, list[tuple[int, int]]], styles: dict[str, str]) -> str:
    """`text` with character spans ({class: [(start, end_exclusive)]}) wrapped in styled <span>s.

    Overlapping spans of different classes are split at every boundary; each piece is escaped.
    """
    cuts = {0, len(text)}
    for ranges in spans.values():
        for start, end in ranges:
            cuts |= {max(0, min(start, len(text))), max(0, min(end, len(text)))}
    bounds = sorted(cuts)
    out = []
    for lo, hi in itertools.pairwise(bounds):
        piece = html.escape(text[lo:hi]).replace("\n", "<br>")
        classes = [c for c, ranges in spans.items() if any(s <= lo and hi <= e for s, e in ranges)]
        style = ";".join(styles[c] for c in classes)
        out.append(f'<span class="{" ".join(classes)}" style="{style}">{piece}</span>' if classes else piece)
    return "".join(out)


def prediction_span(row: dict[str, Any]) -> tuple[int, int] | None:
    """The predicted character span [start, end) in the context (end exclusive; an inclusive end
    is detected from the predicted text), or None for no answer."""
    start, end, text = row.get("start_char"), row.get("end_char"), row.get("prediction") or ""
    if not text or start is None or end is None:
        return None
    context = row.get("context", "")
    return (
        (start, end + 1) if context[start:end] != text and context[start : end + 1] == text else (start, end)
    )


QA_STYLES = {
    "gold": "background:#c7e9c0",
    "pred": "border-bottom:3px solid #d62728",
}


def gold_answers(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The gold answers ({text, start}) of a QA row ("gold", as the runner writes it, or "answers")."""
    answers = row.get("gold", row.get("answers"))
    return answers if isinstance(answers, list) else []


def qa_html(row: dict[str, Any]) -> str:
    """Question, context with gold answers (green) and the prediction (red underline), verdict."""
    answers = gold_answers(row)
    gold = [(a["start"], a["start"] + len(a["text"])) for a in answers if (a.get("start") or 0) >= 0]
    pred = prediction_span(row)
    context = highlight_spans(
        row.get("context", ""), {"gold": gold, "pred": [pred] if pred else []}, QA_STYLES
    )
    gold_text = " · ".join(html.escape(a["text"]) for a in answers) or "<i>no answer</i>"
    prediction = html.escape(row.get("prediction") or "") or "<i>no answer</i>"
    return (
        f"<div><b>Question:</b> {html.escape(row.get('question', ''))}</div>"
        f"<div style='margin:8px 0;line-height:1.7'>{context}</div>"
        f"<div><span style='{QA_STYLES['gold']}'>gold</span>: {gold_text}</div>"
        f"<div><span style='{QA_STYLES['pred']}'>predicted</span>: {prediction} "
        f"(EM {float(row.get('exact', 0)):.0f}, F1 {float(row.get('f1', 0)):.2f})</div>"
    )


def nbest_table(row: dict[str, Any]) -> pd.DataFrame:
    columns = ["text", "start_char", "end_char", "score", "probability"]
    return pd.DataFrame([{k: c.get(k) for k in columns} for c in row.get("nbest") or []], columns=columns)


def relation_html(row: dict[str, Any]) -> str:
    """The sentence with subject (blue) and object (orange) marked, and gold vs predicted label."""
    tokens = row.get("tokens")
    verdict = "right" if is_right(row) else "wrong"
    labels = (
        f"<div>gold: <b>{html.escape(str(row.get('gold')))}</b> · predicted: "
        f"<b>{html.escape(str(row.get('predicted')))}</b> ({verdict})</div>"
    )
    if not tokens:
        return "<div><i>sentence not recorded in predictions.jsonl</i></div>" + labels
    marks = {"subj": row.get("subj"), "obj": row.get("obj")}
    colours = {"subj": "#aec7e8", "obj": "#ffbb78"}
    types = {"subj": row.get("subj_type"), "obj": row.get("obj_type")}
    out = []
    for i, token in enumerate(tokens):
        piece = html.escape(str(token))
        for role, span in marks.items():
            if span and span[0] <= i <= span[1]:
                piece = f"<span style='background:{colours[role]}'>{piece}</span>"
            if span and i == span[1]:
                piece += f"<sub>{role}{':' + html.escape(str(types[role])) if types[role] else ''}</sub>"
        out.append(piece)
    return f"<div style='line-height:1.9'>{' '.join(out)}</div>" + labels


def mention_errors(gold: Sequence, predicted: Sequence) -> dict[tuple[int, int], str]:
    """Per predicted or gold mention: 'missed' (gold only), 'spurious' (predicted only),
    'wrong link' (in both, but its predicted cluster shares no other mention with its gold one)."""
    gold_of = {tuple(m): i for i, c in enumerate(gold) for m in c}
    pred_of = {tuple(m): i for i, c in enumerate(predicted) for m in c}
    errors = {m: "missed" for m in gold_of if m not in pred_of}
    errors |= {m: "spurious" for m in pred_of if m not in gold_of}
    for m in gold_of.keys() & pred_of.keys():
        gold_mates = {tuple(x) for x in gold[gold_of[m]]} - {m}
        pred_mates = {tuple(x) for x in predicted[pred_of[m]]} - {m}
        if pred_mates and not gold_mates & pred_mates:
            errors[m] = "wrong link"
    return errors


COREF_LEGEND = (
    "<div style='color:#666;font-size:0.85em'>[ ]<sub>k</sub>: predicted cluster k · dotted: gold mention "
    "the model missed · <span style='color:#d62728'>spurious</span>: predicted mention not in the gold "
    "annotation · <span style='color:#d62728'>wrong link</span>: mention found, but clustered with "
    "none of its gold coreferents</div>"
)


def coref_html(row: dict[str, Any]) -> str:
    """The document with predicted clusters as coloured brackets (cluster number as subscript);
    errors marked: missed gold mentions dotted grey, spurious and wrongly linked ones in red."""
    tokens = [t for sentence in row.get("sentences", []) for t in sentence]
    predicted, gold = row.get("predicted_clusters", []), row.get("gold_clusters", [])
    errors = mention_errors(gold, predicted)
    opens: dict[int, list[str]] = {}
    closes: dict[int, list[str]] = {}
    for k, cluster in enumerate(predicted):
        colour = _CLUSTER_COLOURS[k % len(_CLUSTER_COLOURS)]
        for start, end in cluster:
            error = errors.get((start, end))
            mark = f"<b style='color:{colour}'>[</b>"
            opens.setdefault(start, []).append(mark)
            flag = f"<sup style='color:#d62728'>{html.escape(error)}</sup>" if error else ""
            closes.setdefault(end, []).append(f"<b style='color:{colour}'>]<sub>{k}</sub></b>{flag}")
    for (start, end), error in errors.items():
        if error == "missed":
            opens.setdefault(start, []).append("<span style='border-bottom:2px dotted #888' title='missed'>")
            closes.setdefault(end, []).insert(0, "<sup style='color:#888'>missed</sup></span>")
    out, boundaries = [], _sentence_ends(row.get("sentences", []))
    for i, token in enumerate(tokens):
        out.append("".join(opens.get(i, [])) + html.escape(str(token)) + "".join(closes.get(i, [])))
        if i in boundaries:
            out.append("<br>")
    return f"<div style='line-height:2'>{' '.join(out)}</div>{COREF_LEGEND}"


def _sentence_ends(sentences: Sequence[Sequence[str]]) -> set[int]:
    ends, total = set(), 0
    for sentence in sentences:
        total += len(sentence)
        ends.add(total - 1)
    return ends


def example_html(row: dict[str, Any]) -> str:
    """The right renderer for a prediction row of any task family."""
    if "context" in row:
        return qa_html(row)
    if "sentences" in row:
        return coref_html(row)
    return relation_html(row)
