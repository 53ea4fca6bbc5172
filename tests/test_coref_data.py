"""CoNLL-2012 reader / writer, LitBank splits, segmentation, file scoring (tasks/coref_data.py)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spaneval.errors import DataError, SpanevalError
from spaneval.tasks.coref_data import coref_column, format_conll, format_document, read_conll, segment_bounds
from spaneval.tasks.coref_decode import decode_clusters
from spaneval.tasks.coref_hub import document_from_hub
from spaneval.tasks.coref_score_files import pair_documents, score_conll_files
from spaneval.tasks.litbank import litbank_dir, litbank_split_files

REFERENCE = Path(__file__).parent / "data" / "coref_reference"
GOOD = """#begin document (bc/cctv/00/cctv_0001); part 000
bc/cctv/00/cctv_0001 0 0 Mary NNP - - - - Speaker#1 * (0|(1
bc/cctv/00/cctv_0001 0 1 Smith NNP - - - - Speaker#1 * 1)
bc/cctv/00/cctv_0001 0 2 's POS - - - - Speaker#1 * 0)
bc/cctv/00/cctv_0001 0 3 dog NN - - - - Speaker#1 * -
bc/cctv/00/cctv_0001 0 4 . . - - - - Speaker#1 * -

bc/cctv/00/cctv_0001 0 0 She PRP - - - - Speaker#2 * (1)
bc/cctv/00/cctv_0001 0 1 barked VBD - - - - Speaker#2 * (2)
#end document
"""


def write(tmp_path, text, name="doc.conll"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_nested_multi_token_and_singleton_mentions(tmp_path):
    (doc,) = read_conll(write(tmp_path, GOOD))
    assert (doc.name, doc.part, doc.key, doc.genre) == (
        "bc/cctv/00/cctv_0001",
        "000",
        ("bc/cctv/00/cctv_0001", 0),
        "bc",
    )
    assert doc.words == ("Mary", "Smith", "'s", "dog", ".", "She", "barked")
    assert doc.sentence_ends == (5, 7)
    assert doc.clusters == (((0, 2),), ((0, 1), (5, 5)), ((6, 6),))
    assert doc.speakers[0] == "Speaker#1" and doc.speakers[-1] == "Speaker#2"
    assert doc.sentence_of() == [0, 0, 0, 0, 0, 1, 1]


def test_items_without_pipes_and_tab_separated_litbank_style(tmp_path):
    text = "#begin document (x); part 0\nx\t0\t0\tA\t(1(2\nx\t0\t1\tB\t2)1)\nx\t0\t2\tC\t\n#end document\n"
    (doc,) = read_conll(write(tmp_path, text))
    assert doc.clusters == (((0, 1),), ((0, 1),))
    assert doc.words == ("A", "B", "C")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("#begin document (d); part 0\nd 0 0 a (1\nd 0 1 b -\n#end document\n", "never closed"),
        ("#begin document (d); part 0\nd 0 0 a 1)\n#end document\n", "cluster 1 is closed but has no open"),
        ("#begin document (d); part 0\nd 0 0 a (1)\n", "no #end document"),
        ("#begin document (d); part 0\nd 0 0 a -\n#begin document (e); part 0\n", "before #end document"),
        ("#begin document (d); part 0\nd 0 0 a -\nd 0 1 -\n#end document\n", "4 columns, expected at least"),
        (GOOD.replace("Speaker#2 * (2)", "(2)"), "line 9: 10 columns, expected at least 12"),
        ("#begin document (d); part 0\nd 0 0 a (x)\n#end document\n", "malformed coreference cell"),
        ("#begin document (d); part 0\nd 0 0 a (1+23)\n#end document\n", "malformed coreference cell"),
        ("d 0 0 a -\n", "outside a #begin document"),
        ("#end document\n", "without #begin document"),
    ],
)
def test_malformed_files_name_file_document_and_line(tmp_path, text, message):
    path = write(tmp_path, text, "bad.conll")
    with pytest.raises(DataError) as err:
        read_conll(path)
    assert message in str(err.value)
    assert "bad.conll" in str(err.value)


def test_malformed_cell_is_quoted_as_a_short_excerpt(tmp_path):
    cell = "(1)" + "x" * 5000
    with pytest.raises(DataError) as err:
        read_conll(write(tmp_path, f"#begin document (d); part 0\nd 0 0 a {cell}\n#end document\n"))
    assert len(str(err.value)) < 300 and "5,003 characters" in str(err.value)


def test_error_names_document_and_line(tmp_path):
    path = write(tmp_path, "#begin document (story); part 0\nd 0 0 a -\nd 0 1 b 7)\n#end document\n")
    with pytest.raises(DataError, match=r"document 'story' part 0, line 3"):
        read_conll(path)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_conll(tmp_path / "nope.conll")


def test_genuine_ontonotes_layout_varying_columns_and_parts():
    """Space-aligned, 12 to 17 columns per sentence, two parts of one document plus another."""
    docs = read_conll(REFERENCE / "ontonotes_style.key")
    assert [(d.name, d.part, d.genre) for d in docs] == [
        ("bc/cctv/00/cctv_0000", "000", "bc"),
        ("bc/cctv/00/cctv_0000", "001", "bc"),
        ("nw/wsj/00/wsj_0020", "000", "nw"),
    ]
    first, second, wsj = docs
    assert first.words[:3] == ("In", "the", "summer") and first.sentence_ends == (19, 23)
    assert first.speakers[0] == "Speaker#1" and second.speakers[0] == "Speaker#2"
    assert wsj.speakers is None  # "-" throughout
    assert first.clusters == (((1, 4),), ((6, 16), (19, 19)), ((9, 9),))
    assert {len(row) for row in first.rows} == {11, 13}  # 2 predicate columns, then none


@pytest.mark.parametrize(
    ("cells", "clusters"),
    [
        # a close and an open of the same cluster on one word: the close takes the new open
        (["(4", "4)|(4", "4)"], [[(1, 1), (0, 2)]]),
        # one cell opening several clusters, run together: clusters numbered in cell order
        (["(3(4(5", "4)|(4", "5)", "4)|3)"], [[(0, 3)], [(1, 1), (0, 3)], [(0, 2)]]),
        # one-token items are read before closes, whatever their place in the cell
        (["(1", "1)|(1)|(2)"], [[(1, 1), (0, 1)], [(1, 1)]]),
        (["(7+1)|(2)"], [[(0, 0)]]),  # a double antecedent is dropped, as the scorer does
    ],
)
def test_cells_read_as_the_reference_scorer(cells, clusters):
    from spaneval.tasks.coref_data import _DocBuilder

    builder = _DocBuilder("(d); part 0", "mem", 1)
    for w, cell in enumerate(cells):
        builder.add_token(["d", "0", str(w), f"w{w}", cell], w + 2)
    assert [list(c) for c in builder.finish(99).clusters] == clusters


def _reference_cases():
    return json.loads((REFERENCE / "expected.json").read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize("case", _reference_cases(), ids=lambda c: c["response"])
def test_scores_equal_the_recorded_reference_scorer(case):
    """tests/data/coref_reference/expected.json holds perl scorer.pl v8.01 outputs on these files."""
    key, response = REFERENCE / case["key"], REFERENCE / case["response"]
    if "refused" in case:
        with pytest.raises(DataError, match="11 repeated mentions"):
            score_conll_files(key, response)
        return
    scores = score_conll_files(key, response)
    for metric, sides in case["metrics"].items():
        for side, (num, den) in sides.items():
            assert scores[metric][side] == pytest.approx(100 * num / den, abs=1e-4), f"{metric} {side}"


def test_writer_keeps_columns_and_round_trips(tmp_path):
    (doc,) = read_conll(write(tmp_path, GOOD))
    text = format_document(doc, doc.clusters)
    assert text.splitlines()[1].split("\t")[:4] == ["bc/cctv/00/cctv_0001", "0", "0", "Mary"]
    (again,) = read_conll(write(tmp_path, text, "again.conll"))
    assert sorted(again.clusters) == sorted(doc.clusters)
    assert again.words == doc.words and again.sentence_ends == doc.sentence_ends


@st.composite
def non_crossing_clusters(draw):
    """Random clusters over 12 words; spans may nest or repeat across clusters but never cross."""
    spans: list[tuple[int, int]] = []
    for _ in range(draw(st.integers(0, 8))):
        s = draw(st.integers(0, 11))
        e = draw(st.integers(s, min(11, s + 4)))
        if all(not (a < s <= b < e or s < a <= e < b) for a, b in spans) and (s, e) not in spans:
            spans.append((s, e))
    labels = [draw(st.integers(0, 3)) for _ in spans]
    clusters = [[sp for sp, lab in zip(spans, labels, strict=True) if lab == c] for c in range(4)]
    return [c for c in clusters if c]


@settings(max_examples=200, deadline=None)
@given(non_crossing_clusters())
def test_coref_column_round_trip(clusters):
    from spaneval.tasks.coref_data import _DocBuilder

    builder = _DocBuilder("(d); part 0", "mem", 1)
    for w, cell in enumerate(coref_column(12, clusters)):
        builder.add_token(["d", "0", str(w), f"w{w}", cell], w + 2)
    doc = builder.finish(99)
    assert sorted(sorted(c) for c in doc.clusters) == sorted(sorted(c) for c in clusters)


def test_segment_bounds_prefers_sentence_then_word_ends():
    # sentences end at 4, 9, 20; words start everywhere except inside a 3-subtoken word at 12-14
    word_starts = [i for i in range(20) if i not in (13, 14)]
    assert segment_bounds([4, 9, 20], word_starts, 20, 10) == [(0, 9), (9, 19), (19, 20)]
    assert segment_bounds([4, 9, 20], word_starts, 20, 5) == [(0, 4), (4, 9), (9, 12), (12, 17), (17, 20)]
    assert segment_bounds([4, 9, 20], word_starts, 20, 100) == [(0, 20)]
    assert segment_bounds([], [], 7, 3) == [(0, 3), (3, 6), (6, 7)]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 60), st.integers(1, 12), st.data())
def test_segment_bounds_cover_and_fit(n, max_len, data):
    ends = sorted(data.draw(st.sets(st.integers(1, n), max_size=10)) | {n})
    starts = sorted(data.draw(st.sets(st.integers(0, n - 1), max_size=30)) | {0})
    bounds = segment_bounds(ends, starts, n, max_len)
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(0 < hi - lo <= max_len for lo, hi in bounds)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))


def test_decode_clusters_links_and_singletons():
    starts, ends = [0, 2, 5, -1], [0, 3, 5, -1]
    scores, antecedents = [1.0, 0.5, 2.0, -1.0], [-1, 0, -1, -1]
    to_word = [0, 1, 2, 2, 3, 4]
    assert decode_clusters(starts, ends, scores, antecedents, to_word, False) == [[(0, 0), (2, 2)]]
    with_singletons = decode_clusters(starts, ends, scores, antecedents, to_word, True)
    assert with_singletons == [[(0, 0), (2, 2)], [(4, 4)]]


def test_document_from_hub_offsets_and_genre():
    example = {
        "document_id": "nw/wsj/00/wsj_0001",
        "sentences": [
            {
                "part_id": 0,
                "words": ["Pierre", "Vinken", "said"],
                "speaker": None,
                "coref_spans": [[5, 0, 1]],
            },
            {"part_id": 0, "words": ["He", "left"], "speaker": None, "coref_spans": [[5, 0, 0]]},
        ],
    }
    doc = document_from_hub(example)
    assert doc.clusters == (((0, 1), (3, 3)),)
    assert (doc.part, doc.genre, doc.sentence_ends, doc.speakers) == ("000", "nw", (3, 5), None)
    assert format_conll([doc], [doc.clusters]).startswith("#begin document (nw/wsj/00/wsj_0001); part 000\n")


def test_pair_documents_errors(tmp_path):
    (doc,) = read_conll(write(tmp_path, GOOD))
    other = read_conll(write(tmp_path, GOOD.replace("cctv_0001", "cctv_0002"), "other.conll"))[0]
    with pytest.raises(DataError, match="missing from the response"):
        pair_documents([doc], [other], "k", "r")
    with pytest.raises(DataError, match="not in the key"):
        pair_documents([doc], [doc, other], "k", "r")
    short = read_conll(
        write(tmp_path, GOOD.replace("bc/cctv/00/cctv_0001 0 4 . . - - - - Speaker#1 * -\n", ""), "s")
    )
    with pytest.raises(DataError, match="6 tokens but the key document has 7"):
        pair_documents([doc], short, "k", "r")


def test_score_cli_prints_one_json_object(tmp_path, capsys):
    from spaneval.cli import main

    key = write(tmp_path, GOOD, "key.conll")
    response = write(tmp_path, GOOD.replace("(2)", "-"), "response.conll")
    assert main(["score", "coref", "--key", str(key), "--response", str(response)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"muc", "bcub", "ceafm", "ceafe", "blanc", "lea", "mentions", "conll_f1"}
    assert out["mentions"]["recall"] == pytest.approx(100 * 3 / 4)
    expected = score_conll_files(str(key), str(response))
    assert expected.pop("warnings") == [] and out == json.loads(json.dumps(expected))


def test_score_warns_when_response_words_differ_from_the_key(tmp_path, capsys):
    from spaneval.cli import main

    key, response = tmp_path / "key.conll", tmp_path / "response.conll"
    key.write_text(GOOD)
    response.write_text(GOOD.replace(" dog NN ", " cat NN "))
    assert main(["score", "coref", "--key", str(key), "--response", str(response)]) == 0
    err = capsys.readouterr().err
    assert "1 document(s) have other words than the key" in err and "word 3: key 'dog', response 'cat'" in err


def test_litbank_reader_counts_and_splits(shared_data):
    root = litbank_dir(shared_data / "coref" / "litbank")
    docs = [d for path in sorted((root / "conll").glob("*.conll")) for d in read_conll(path)]
    assert len(docs) == 100
    assert sum(len(d.words) for d in docs) == 210_532
    assert sum(len(c) for d in docs for c in d.clusters) == 29_103
    assert sum(len(d.clusters) for d in docs) == 7_927
    assert sum(1 for d in docs for c in d.clusters if len(c) == 1) == 5_763
    sizes = {s: len(litbank_split_files(root, 3, s)) for s in ("train", "dev", "test")}
    assert sizes == {"train": 80, "dev": 10, "test": 10}


def test_litbank_missing_says_where_to_get_it(tmp_path, monkeypatch):
    from spaneval import data_paths

    monkeypatch.delenv("SPANEVAL_LITBANK", raising=False)
    monkeypatch.delenv("SPANEVAL_SHARED_DATA", raising=False)
    monkeypatch.setattr(data_paths, "REPO", tmp_path / "repo")
    with pytest.raises(SpanevalError, match=r"github\.com/dbamman/litbank"):
        litbank_dir(None)


def test_bench_perturbs_and_scores(shared_data, capsys):
    from spaneval.bench.coref_score import main, perturb_clusters
    from spaneval.rng import generator

    clusters = [[(0, 0), (2, 3), (5, 5)], [(7, 7)], [(9, 9), (11, 11)]]
    first = perturb_clusters(clusters, generator(3), 0.3, 0.3, 0.3)
    assert first == perturb_clusters(clusters, generator(3), 0.3, 0.3, 0.3)
    assert perturb_clusters(clusters, generator(3), 0.0, 0.0, 0.0) == [list(c) for c in clusters]
    result = main(["--data", str(shared_data / "coref" / "litbank"), "--repeat", "1"])
    assert result["documents"] == 100 and 50 < result["conll_f1"] < 100
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
