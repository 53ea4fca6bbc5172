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

from spaneval import names, stats

FILTERS = ("all", "wrong only", "A right, B wrong", "B right, A wrong")
_CLUSTER_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


# --- tables ------------------------------------------------------------------------------------


MISSING = "–"  # what a cell without a value shows (never "None" or "nan")
MATRIX_TABLES = frozenset({"confusion_matrix"})  # breakdowns that are {gold: {predicted: count}}


def for_display(frame: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """A copy in which no cell is missing: gaps show MISSING; a float column with gaps becomes text
    with `digits` decimals (a column without gaps keeps its type, so it still sorts numerically)."""
    out = frame.copy()
    for column in out.columns:
        missing = out[column].isna()
        if not missing.any():
            continue
        if out[column].dtype.kind == "f":
            values = [MISSING if m else f"{v:.{digits}f}" for v, m in zip(out[column], missing, strict=True)]
            out[column] = values
        else:
            out[column] = out[column].astype(object).where(~missing, MISSING)
    return out


def leaderboard_table(wide: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard as the report prints it: 'mean ± std (n=k)' per task, MISSING where absent."""
    from spaneval.report import main_rows

    header, rows = main_rows(wide)
    return pd.DataFrame(rows, columns=header)


def task_metrics_table(summary: pd.DataFrame, task: str) -> pd.DataFrame:
    """Every metric of `task`: one row per model (group label), mean / std / n columns per metric."""
    part = summary[summary["task"] == task]
    if part.empty:
        return pd.DataFrame()
    wide = part.pivot_table(index="label", columns="metric", values=["mean", "std", "n"], dropna=False)
    wide.columns = [f"{metric} {stat}" for stat, metric in wide.columns]
    ordered = sorted(
        wide.columns, key=lambda c: (c.rsplit(" ", 1)[0], ["mean", "std", "n"].index(c.rsplit(" ", 1)[1]))
    )
    return wide[ordered].reset_index().rename(columns={"label": "model"})


def breakdown_charts(breakdowns: pd.DataFrame, task: str) -> list[tuple[str, str, pd.DataFrame, list[str]]]:
    """(table, metric, frame of bucket/model/value, bucket order) per bar chart of `task`; buckets in
    the order the task declared (lowest rank first), matrices left out."""
    part = breakdowns[(breakdowns["task"] == task) & ~breakdowns["table"].isin(MATRIX_TABLES)]
    out = []
    for (table, metric), chart in part.groupby(["table", "metric"], sort=True):
        order = stats.bucket_order(chart)
        frame = chart[["bucket", "label", "mean"]].rename(columns={"label": "model", "mean": "value"})
        out.append((table, metric, frame, order))
    return out


def confusion_frame(breakdowns: pd.DataFrame, task: str, label: str) -> tuple[pd.DataFrame, list[str]]:
    """The confusion matrix of one model (group label) of `task` as gold/predicted/count rows over
    every label pair (zeros filled in), and the label order."""
    matrices = breakdowns[breakdowns["table"].isin(MATRIX_TABLES)]
    part = matrices[(matrices["task"] == task) & (matrices["label"] == label)]
    return stats.matrix_frame(part)


def loss_frame(record: dict[str, Any]) -> pd.DataFrame:
    """The training loss per optimizer step from a record ("training.losses"); empty when absent."""
    training = record.get("training") if isinstance(record.get("training"), dict) else {}
    losses = [v for v in training.get("losses") or [] if isinstance(v, (int, float))]
    return pd.DataFrame({"step": range(1, len(losses) + 1), "loss": losses})


def run_heading(record: dict[str, Any]) -> str:
    """The run view's heading: display name, with the full model path underneath (escaped HTML)."""
    model = record.get("model") if isinstance(record.get("model"), dict) else {}
    path = str(model.get("path") or model.get("name") or "")
    name, run_id = html.escape(names.display_name(record)), html.escape(record["run_id"])
    return (
        f"<h3 title='{html.escape(path, quote=True)}'>{name}</h3>"
        f"<div style='color:#666'>model: <code>{html.escape(path)}</code> · run {run_id}</div>"
    )


def default_runs(runs: pd.DataFrame) -> tuple[int, int]:
    """Positions in `runs` (a runs table of one task, in picker order) of the pair to show first:
    SpanBERT-like against BERT-like on a seed both ran, else the first two runs."""
    groups = runs.drop_duplicates("label")
    pair = names.default_pair(list(zip(groups["label"], groups["objective"], strict=True)))
    if pair is None:
        return 0, min(1, len(runs) - 1)
    label_a, label_b = groups["label"].iloc[pair[0]], groups["label"].iloc[pair[1]]
    ids = list(runs["run_id"])
    a = runs[runs["label"] == label_a]
    b = runs[runs["label"] == label_b]
    shared = [s for s in a["seed"] if s in set(b["seed"])]
    seed_a = shared[0] if shared else a["seed"].iloc[0]
    run_a = a[a["seed"] == seed_a]["run_id"].iloc[0]
    run_b = (b[b["seed"] == seed_a] if shared else b)["run_id"].iloc[0]
    return ids.index(run_a), ids.index(run_b)


def run_label(run: dict[str, Any] | pd.Series) -> str:
    """How a run is named in pickers: model label, task, seed and run id."""
    return f"{run['label']} · {run['task']} · seed {run['seed']} · {run['run_id']}"


def example_label(row: dict[str, Any], max_chars: int = 90) -> str:
    """How an example is named in the picker: its question (QA), document id or opening words
    (coreference) or sentence (relations), shortened, with its id."""
    if "question" in row:
        text = str(row["question"])
    elif "sentences" in row:
        text = str(row.get("doc_id") or " ".join(str(t) for s in row["sentences"][:1] for t in s))
    else:
        text = " ".join(str(t) for t in row.get("tokens") or [])
    text = " ".join(text.split())
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return f"{text} · {row['id']}" if text else str(row["id"])


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
        ("model (display name)", names.display_name(record)),
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
    return pd.DataFrame([(k, MISSING if v is None else str(v)) for k, v in rows], columns=["field", "value"])


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


def highlight_spans(
    text: str,
    spans: dict[str, list[tuple[int, int]]],
    styles: dict[str, str],
    markers: dict[int, str] | None = None,
) -> str:
    """`text` with character spans ({class: [(start, end_exclusive)]}) wrapped in styled <span>s.

    Overlapping spans of different classes are split at every boundary; each piece is escaped.
    `markers` ({offset: trusted HTML}) are inserted at their character offsets (e.g. the number
    of the gold answer that ends there).
    """
    markers = markers or {}
    cuts = {0, len(text)} | {max(0, min(m, len(text))) for m in markers}
    for ranges in spans.values():
        for start, end in ranges:
            cuts |= {max(0, min(start, len(text))), max(0, min(end, len(text)))}
    bounds = sorted(cuts)
    out = [markers.get(0, "")]
    for lo, hi in itertools.pairwise(bounds):
        piece = html.escape(text[lo:hi]).replace("\n", "<br>")
        classes = [c for c, ranges in spans.items() if any(s <= lo and hi <= e for s, e in ranges)]
        style = ";".join(styles[c] for c in classes)
        out.append(f'<span class="{" ".join(classes)}" style="{style}">{piece}</span>' if classes else piece)
        out.append(markers.get(hi, ""))
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


def gold_spans(row: dict[str, Any]) -> list[tuple[str, tuple[int, int] | None]]:
    """Each distinct gold answer (text, character span [start, end) or None when it cannot be placed).

    An answer without a usable start offset is placed at the first occurrence of its text, so every
    gold answer shows, not only the annotated ones; answers repeated by several annotators count once.
    """
    context, out = row.get("context", ""), {}
    for answer in gold_answers(row):
        text = str(answer.get("text") or "")
        start = answer.get("start")
        if not isinstance(start, int) or start < 0 or context[start : start + len(text)] != text:
            start = context.find(text) if text else -1
        out.setdefault((text, start), (text, (start, start + len(text)) if start >= 0 and text else None))
    return list(out.values())


def qa_html(row: dict[str, Any]) -> str:
    """Question, context with every gold answer (green, numbered at its end) and the prediction
    (red underline), verdict."""
    golds = gold_spans(row)
    spans = [span for _, span in golds if span]
    markers: dict[int, str] = {}
    for k, (_, span) in enumerate(golds, start=1):
        if span:
            markers[span[1]] = markers.get(span[1], "") + f"<sup style='color:#2ca02c'>{k}</sup>"
    pred = prediction_span(row)
    context = highlight_spans(
        row.get("context", ""), {"gold": spans, "pred": [pred] if pred else []}, QA_STYLES, markers
    )
    gold_text = (
        " · ".join(
            f"<sup>{k}</sup>{html.escape(text)}" + ("" if span else " <i>(not in the context)</i>")
            for k, (text, span) in enumerate(golds, start=1)
        )
        or "<i>no answer</i>"
    )
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
