"""Relation readers: TACRED JSON (records written here; TACRED itself is LDC-licensed), patches,
SemEval-2010 Task 8 (bundled sample and the full release), and their error messages."""

from __future__ import annotations

import json

import pytest

from spaneval.errors import ConfigError, DataError, SpanevalError
from spaneval.tasks import relation as rel
from spaneval.tasks import relation_data as data
from spaneval.tasks import relation_score_files as score_files


def tacred_record(rid="r1", **changes) -> dict:
    rec = {
        "id": rid,
        "docid": "doc1",
        "token": ["Bill", "Gates", "founded", "Microsoft", "in", "1975", "."],
        "subj_start": 3,
        "subj_end": 3,
        "obj_start": 0,
        "obj_end": 1,
        "subj_type": "ORGANIZATION",
        "obj_type": "PERSON",
        "relation": "org:founded_by",
        "stanford_ner": ["PERSON", "PERSON", "O", "ORGANIZATION", "O", "DATE", "O"],
    }
    return rec | changes


def write_json(path, obj):
    path.write_text(json.dumps(obj))
    return path


def test_inventories_are_fixed_and_complete():
    assert len(data.TACRED_LABELS) == 42 and data.TACRED_LABELS[0] == "no_relation"
    assert len(data.RETACRED_LABELS) == 40 and "per:identity" in data.RETACRED_LABELS
    assert len(data.TACRED_OBJ_TYPES) == 17 and list(data.TACRED_OBJ_TYPES) == sorted(data.TACRED_OBJ_TYPES)
    assert len(data.SEMEVAL_LABELS) == 19


def test_read_tacred(tmp_path):
    path = write_json(tmp_path / "train.json", [tacred_record(), tacred_record("r2", relation="no_relation")])
    examples = data.read_tacred(path)
    assert [e.id for e in examples] == ["r1", "r2"]
    ex = examples[0]
    assert (ex.subj_start, ex.subj_end, ex.obj_start, ex.obj_end) == (3, 3, 0, 1)
    assert ex.entity_distance_tokens == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"subj_end": 7}, r"subject span \[3, 7\] is outside the sentence of 7 tokens"),
        ({"obj_start": -1}, "object span"),
        ({"subj_start": 1, "subj_end": 3}, "overlap"),
        ({"relation": "per:favourite_colour"}, "unknown relation 'per:favourite_colour'"),
        ({"relation": "per:identity"}, "labels=retacred"),
        ({"obj_type": "COLOUR"}, "unknown object type 'COLOUR'"),
        ({"subj_start": "3"}, "field 'subj_start' should be int"),
        ({"token": []}, "non-empty list"),
    ],
)
def test_tacred_errors_name_file_and_record(tmp_path, changes, message):
    path = write_json(tmp_path / "dev.json", [tacred_record(), tacred_record("bad-id", **changes)])
    with pytest.raises(DataError, match=message) as err:
        data.read_tacred(path)
    assert str(err.value).startswith(f"{path}, record bad-id:")


def test_tacred_missing_field_and_duplicate_id(tmp_path):
    rec = tacred_record()
    del rec["obj_type"]
    with pytest.raises(DataError, match="record r1: missing field 'obj_type'"):
        data.read_tacred(write_json(tmp_path / "a.json", [rec]))
    with pytest.raises(DataError, match="record r1: duplicate id"):
        data.read_tacred(write_json(tmp_path / "b.json", [tacred_record(), tacred_record()]))


def test_tacrev_patch_updates_listed_records(tmp_path):
    path = write_json(tmp_path / "test.json", [tacred_record("a"), tacred_record("b")])
    patch = data.load_patch(
        write_json(tmp_path / "test_patch.json", [{"id": "b", "relation": "no_relation"}])
    )
    examples = data.read_tacred(path, patch=patch)
    assert [(e.id, e.label) for e in examples] == [("a", "org:founded_by"), ("b", "no_relation")]
    bad = data.load_patch(write_json(tmp_path / "bad_patch.json", [{"id": "zzz", "relation": "no_relation"}]))
    with pytest.raises(DataError, match="record zzz: patch id not found"):
        data.read_tacred(path, patch=bad)


def test_retacred_patch_relabels_and_drops(tmp_path):
    path = write_json(tmp_path / "test.json", [tacred_record("a"), tacred_record("b")])
    patch = data.load_patch(write_json(tmp_path / "test_id2label.json", {"a": "per:identity"}))
    with pytest.raises(DataError, match="labels=retacred"):
        data.read_tacred(path, patch=patch)
    examples = data.read_tacred(path, data.RETACRED_LABELS, patch)
    assert [(e.id, e.label) for e in examples] == [("a", "per:identity")]


def test_tacred_task_load_with_patch_directory(tmp_path):
    for split in ("train", "dev", "test"):
        write_json(tmp_path / f"{split}.json", [tacred_record(f"{split}-1"), tacred_record(f"{split}-2")])
    patches = tmp_path / "patches"
    patches.mkdir()
    write_json(patches / "test_patch.json", [{"id": "test-2", "relation": "no_relation"}])
    cfg = rel.TacredConfig(patch=str(patches))
    test = rel.TACRED.load(str(tmp_path), "eval", cfg)
    assert [e.label for e in test.examples] == ["org:founded_by", "no_relation"]
    assert test.path.endswith("test.json") and test.fingerprint.startswith("sha256:")
    train = rel.TACRED.load(str(tmp_path), "train", cfg)
    assert train.warnings and "no patch for split 'train'" in train.warnings[0]
    one_file = write_json(tmp_path / "dev_patch.json", [{"id": "dev-1", "relation": "no_relation"}])
    train = rel.TACRED.load(str(tmp_path), "train", rel.TacredConfig(patch=str(one_file)))
    assert "changes no record of the train split" in train.warnings[0]
    retacred = write_json(tmp_path / "re.json", {"test-1": "per:identity"})
    with pytest.raises(ConfigError, match="labels=retacred"):
        rel.TACRED.load(str(tmp_path), "test", rel.TacredConfig(patch=str(retacred)))


def test_tacred_without_data_says_where_to_get_it(monkeypatch, tmp_path):
    monkeypatch.delenv("SPANEVAL_TACRED_DIR", raising=False)
    monkeypatch.setattr(rel, "REPO", tmp_path / "repo")  # no ../shared/data/relation/tacred there
    with pytest.raises(SpanevalError, match="LDC"):
        rel.TACRED.load(None, "train", rel.TacredConfig())
    write_json(tmp_path / "train.json", [tacred_record()])
    monkeypatch.setenv("SPANEVAL_TACRED_DIR", str(tmp_path))
    assert len(rel.TACRED.load("tacred", "train", rel.TacredConfig()).examples) == 1


def test_tacred_score_files(tmp_path):
    path = write_json(
        tmp_path / "test.json", [tacred_record("a"), tacred_record("b", relation="no_relation")]
    )
    txt = tmp_path / "pred.txt"
    txt.write_text("org:founded_by\norg:founded_by\n")
    result = score_files.score_tacred_files(str(path), str(txt))
    assert (result["precision"], result["recall"]) == (50.0, 100.0)
    pred_json = write_json(tmp_path / "pred.json", {"a": "org:founded_by", "b": "no_relation"})
    assert score_files.score_tacred_files(str(path), str(pred_json))["f1"] == 100.0
    txt.write_text("org:founded_by\n")
    with pytest.raises(DataError, match="expected 2 labels"):
        score_files.score_tacred_files(str(path), str(txt))
    txt.write_text("org:founded_by\norg:fonded_by\n")
    with pytest.raises(DataError, match="line 2: unknown relation 'org:fonded_by'"):
        score_files.score_tacred_files(str(path), str(txt))


# --- SemEval ------------------------------------------------------------------------------------


def test_bundled_semeval_sample(bundled):
    train = data.read_semeval_release(bundled / "semeval2010" / "train.txt")
    test = data.read_semeval_release(bundled / "semeval2010" / "test.txt")
    assert (len(train), len(test)) == (400, 200)
    first = train[0]
    assert first.id == "1" and first.label == "Component-Whole(e2,e1)"
    assert first.tokens[first.subj_start] == "configuration" and first.tokens[first.obj_start] == "elements"


def test_full_release_reads(shared_data):
    root = shared_data / "relation" / "semeval2010-task8"
    assert len(rel.SEMEVAL2010.load(str(root), "train", rel.SemevalConfig()).examples) == 8000
    test = rel.SEMEVAL2010.load(str(root), "eval", rel.SemevalConfig())
    assert len(test.examples) == 2717 and test.path.endswith("TEST_FILE_FULL.TXT")


def test_entity_glued_to_a_word_is_split(tmp_path):
    tokens, e1, e2 = data.parse_semeval_markup("anti<e1>bodies</e1> in <e2>blood</e2>s", "f", "7")
    assert (
        tokens[e1[0]] == "bodies"
        and tokens[e2[0]] == "blood"
        and tokens == ["anti", "bodies", "in", "blood", "s"]
    )


@pytest.mark.parametrize(
    ("sentence", "message"),
    [
        ("The <e1>cat</e1> sat.", "expected one <e1>"),
        ("The <e1>cat <e2>mat</e2></e1>.", "nested"),
        ("The <e1> </e1> on <e2>mat</e2>.", "empty"),
        ("The <e1>cat</e1> on <e2>mat</e2> <e2>x</e2>.", "expected one"),
    ],
)
def test_malformed_markup(tmp_path, sentence, message):
    path = tmp_path / "TRAIN_FILE.TXT"
    path.write_text(
        f'1\t"A <e1>dog</e1> and a <e2>bone</e2>."\nOther\nComment:\n\n5\t"{sentence}"\nOther\n\n'
    )
    with pytest.raises(DataError, match=f"record 5: .*{message}"):
        data.read_semeval_release(path)


def test_semeval_unknown_label_and_bad_header(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text('3\t"A <e1>dog</e1> and a <e2>bone</e2>."\nCause-Effect(e3,e1)\n')
    with pytest.raises(DataError, match="record 3: unknown relation 'Cause-Effect"):
        data.read_semeval_release(path)
    path.write_text("A <e1>dog</e1> and a <e2>bone</e2>.\nOther\n")
    with pytest.raises(DataError, match="line 1"):
        data.read_semeval_release(path)


def test_semeval_named_sources(bundled):
    assert rel.SEMEVAL2010.load("bundled", "train", rel.SemevalConfig()).path.endswith("train.txt")
    dev = rel.SEMEVAL2010.load(None, "dev", rel.SemevalConfig())
    assert dev.path.endswith("test.txt") and "no dev split" in dev.warnings[0]
    with pytest.raises(DataError, match="not found"):
        rel.SEMEVAL2010.load("/nonexistent/semeval", "train", rel.SemevalConfig())


def test_a_fewrel_file_read_as_semeval_is_quoted_as_a_short_excerpt(tmp_path):
    """FewRel is one JSON line of megabytes; the error quotes its start, not all of it."""
    record = {"tokens": ["Merpati", "flight", "106", "departed", "Jakarta"], "h": ["merpati", "Q1", [[0]]]}
    path = tmp_path / "fewrel_val.json"
    path.write_text(json.dumps({f"P{i}": [record] * 2000 for i in range(20)}))
    for read in (data.read_semeval_answers, data.read_semeval_release):
        with pytest.raises(DataError) as err:
            read(path)
        assert len(str(err.value)) < len(str(path)) + 200, str(err.value)[:300]


def test_long_record_names_are_cut():
    from spaneval.errors import excerpt

    assert excerpt("short") == "'short'"
    assert excerpt("x" * 1000) == f"{'x' * 60!r}... (1,000 characters)"
    assert len(str(DataError("f.json", "y" * 10_000, "bad"))) < 120
