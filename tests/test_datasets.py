"""The data sets: sizes, determinism, held-out test sentences, answer validity, the CLI, the Berglund loader."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from icft import cli, datasets
from icft.datasets import berglund, process_knowledge as pk, reversal_curse as rc
from icft.datasets import base
from icft.datasets.base import normalise_ws
from icft.errors import IcftError
from icft.logic import entails, parse
from icft.paths import repo_root
from icft.words import is_real_word

NAMES = datasets.names()
FILES = ("train.jsonl", "test.jsonl", "card.json")
GENERALIZATION_SPLITS = {"reversal", "compositional", "syllogism"}


def real_rc_folder() -> Path | None:
    for candidate in (os.environ.get("RC_DATA"), repo_root().parent / "shared" / "data" / "reversal_curse"):
        if candidate and (Path(candidate) / "p2d_reverse_prompts_test.jsonl").is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="module")
def full():
    """Every data set at full size, generated in memory (well under a second each)."""
    return {name: datasets.generate(name, "full", 0)[0] for name in NAMES}


# --------------------------------------------------------------------------------------- building


@pytest.mark.parametrize("profile", ["smoke", "quick"])
@pytest.mark.parametrize("name", NAMES)
def test_builds_and_loads_at_every_profile(name, profile, tmp_path):
    folder = datasets.build(name, profile, 0, tmp_path / name)
    docs, questions, card = datasets.load_documents(folder), datasets.load_questions(folder), datasets.load_card(folder)
    assert card["name"] == name and card["profile"] == profile and card["seed"] == 0
    assert card["counts"]["documents"] == len(docs) > 0
    assert sum(card["counts"]["questions"].values()) == len(questions) > 0
    for fname in ("train.jsonl", "test.jsonl"):
        assert card["files"][fname]["lines"] == len((folder / fname).read_text().splitlines())
    for q in questions:
        assert q.prompt == q.prompt.rstrip() and q.answer is not None
        assert all(c.startswith(" ") for c in q.choices)
        assert not any(c.strip() in q.prompt for c in q.choices)  # choices are never shown
    if profile == "smoke":
        assert len(docs) < 100
    spec = datasets.spec(name)  # the figures' bar order names every split, the trained ones first
    assert set(spec.splits) == set(card["counts"]["questions"]) and spec.splits[:len(spec.trained_splits)] == spec.trained_splits


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_bytes_other_seed_other_data(name, tmp_path):
    a = datasets.build(name, "smoke", 5, tmp_path / "a")
    b = datasets.build(name, "smoke", 5, tmp_path / "b")
    c = datasets.build(name, "smoke", 6, tmp_path / "c")
    for f in FILES:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    for f in ("train.jsonl", "test.jsonl"):
        assert (a / f).read_bytes() != (c / f).read_bytes(), f


def test_full_sizes(full):
    def split_counts(name):
        return {s: sum(q.split == s for q in full[name].questions) for s in {q.split for q in full[name].questions}}

    assert len(full["simple_reversals"].documents) == 1000
    assert len({d.meta["fact"] for d in full["simple_reversals"].documents}) == 100
    assert split_counts("simple_reversals") == {"reversal": 100, "forward": 100}
    assert len(full["simple_syllogisms"].documents) == 69
    assert split_counts("simple_syllogisms") == {"syllogism": 69, "premises": 69}
    assert len(full["reversal_curse"].documents) == 3600
    assert split_counts("reversal_curse") == {"reversal": 300, "p2d": 300, "d2p": 300}
    assert split_counts("process_knowledge") == {"compositional": 90, "trained": 50}


@pytest.mark.parametrize("name", NAMES)
def test_no_generalization_test_sentence_in_training(name, full):
    train = [normalise_ws(d.text) for d in full[name].documents]
    for q in full[name].questions:
        if q.split in GENERALIZATION_SPLITS:
            sentence = normalise_ws(q.prompt + q.choices[q.answer])
            assert not any(sentence in t for t in train), (q.id, sentence)


@pytest.mark.parametrize("profile", ["smoke", "quick"])
@pytest.mark.parametrize("name", NAMES)
def test_validation_questions_ask_the_trained_direction_in_other_words(name, profile):
    """Every data set has validation questions (what fine-tuning watches and the settings search judges
    by): of a trained split, well-formed, not a test question, derived from the training documents
    alone (the same without the test questions), fixed by the seed."""
    gen = datasets.generate(name, profile, 0)[0]
    val = datasets.validation_questions(name, gen, 0)
    spec = datasets.spec(name)
    assert len(val) >= 8 and {q.split for q in val} == {"validation"} and {q.subset for q in val} <= set(spec.trained_splits)
    assert len({q.id for q in val}) == len(val) and not {q.id for q in val} & {q.id for q in gen.questions}
    base.check_records(name, base.Generated(gen.documents, val, []))
    tests = {normalise_ws(q.prompt) for q in gen.questions}
    assert not any(normalise_ws(q.prompt) in tests for q in val), "a validation prompt is a test prompt"
    blind = base.Generated(gen.documents, [], gen.design, gen.nonsense_words, gen.extra, gen.entities)
    assert [q.to_dict() for q in datasets.validation_questions(name, blind, 0)] == [q.to_dict() for q in val]
    assert [q.to_dict() for q in datasets.validation_questions(name, gen, 0)] == [q.to_dict() for q in val]


def test_nonsense_words_in_every_data_set(full):
    for name, gen in full.items():
        words = gen.nonsense_words
        assert len(words) == len(set(words)), name
        assert not any(is_real_word(w) for w in words), name


# --------------------------------------------------------------------------------------- per data set


def test_simple_reversals_design(full):
    gen = full["simple_reversals"]
    facts = {d.meta["fact"]: d.meta for d in gen.documents}
    nouns = [m[k] for m in facts.values() for k in ("subject", "object")]
    assert len(nouns) == len(set(nouns))  # each entity in exactly one fact
    leadins = {}
    for d in gen.documents:
        leadins.setdefault(d.meta["fact"], []).append(d.meta["leadin"])
    assert all(len(v) == len(set(v)) == 10 for v in leadins.values())  # a different lead-in per article
    answers = [q.answer for q in gen.questions]
    assert 0.3 < sum(answers) / len(answers) < 0.7  # the correct index is randomised
    for q in gen.questions:
        m = facts[q.meta["fact"]]
        if q.split == "reversal":
            assert q.prompt.endswith(f"{m['object']} are") and q.choices[q.answer].endswith(f" than {m['subject']}.")
            assert not q.choices[q.answer].startswith(f" {m['stated']} ")  # the trained comparison is the contradiction


def _premises(text: str) -> list:
    return [parse(s) for s in re.findall(r"(?:All|Some|No) \S+ are \S+?\.", text.split(":", 1)[1])]


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_exactly_one_valid_syllogism_choice(profile):
    gen = datasets.generate("simple_syllogisms", profile, 0)[0]
    docs = {d.meta["example"]: d for d in gen.documents}
    subsets = set()
    for q in (q for q in gen.questions if q.split == "syllogism"):
        premises = _premises(docs[q.meta["example"]].text)
        assert len(premises) == 2
        valid = [i for i, c in enumerate(q.choices) if entails(premises, parse(c))]
        assert valid == [q.answer], (q.id, q.choices)
        assert len(q.choices) in (5, 6)
        subsets.add(q.subset)
    assert subsets == {"all", "some", "no"}


@pytest.mark.parametrize("profile, n", [("smoke", 9), ("quick", 36), ("full", 69)])
def test_syllogism_premises_split(profile, n):
    """Premise recall: one question per example, in the syllogism split's form over a premise's two terms;
    the answer is the trained premise, the only entailed choice; the asked quantifiers are balanced."""
    gen = datasets.generate("simple_syllogisms", profile, 0)[0]
    spec = datasets.spec("simple_syllogisms")
    assert spec.version == "2" and spec.trained_splits == ("premises",) and spec.splits == ("premises", "syllogism")
    docs = {d.meta["example"]: d for d in gen.documents}
    qs = [q for q in gen.questions if q.split == "premises"]
    assert len(qs) == n and [q.meta["example"] for q in qs] == list(range(n))
    assert len({q.id for q in qs}) == n and all(q.id.startswith("syl-p") for q in qs)
    assert [q.split for q in gen.questions] == ["syllogism"] * n + ["premises"] * n  # new questions after the old
    first_term_is_subject = 0
    for q in qs:
        premises = _premises(docs[q.meta["example"]].text)
        answer = parse(q.choices[q.answer])
        assert answer in premises and answer.text() == q.meta["premise"] and q.subset == answer.quantifier
        assert [i for i, c in enumerate(q.choices) if entails(premises, parse(c))] == [q.answer], (q.id, q.choices)
        terms = {answer.subject, answer.predicate}
        assert q.prompt in (f"The relationships between {a} and {b} are:" for a in terms for b in terms - {a})
        assert all({parse(c).subject, parse(c).predicate} == terms for c in q.choices)
        # the same choices as a syllogism question: the six statements less the answer's equivalent converse
        assert len(q.choices) == (6 if q.subset == "all" else 5) and q.chance == 1 / len(q.choices)
        if any(p.quantifier != "all" for p in premises):  # the Some or No premise is the one asked
            assert q.subset != "all"
        first_term_is_subject += q.prompt.split()[3] == answer.subject
    assert Counter(q.subset for q in qs) == {s: n // 3 for s in ("all", "some", "no")}  # chance 1/3 per quantifier
    chance = base.counts(gen.questions)["chance"]
    assert chance["premises"] == chance["syllogism"] == round((1 / 6 + 2 / 5) / 3, 4)
    if n >= 36:  # neither the term order of the prompt nor the answer's index gives the answer away
        assert 0.25 < first_term_is_subject / n < 0.75
        assert len({q.answer for q in qs}) >= 4


def test_syllogism_questions_are_version_1s():
    """Version 2 added the premises split after the syllogism questions, from a random stream of its own:
    the training file and the syllogism questions are byte for byte version 1's (quick, seed 0)."""
    gen = datasets.generate("simple_syllogisms", "quick", 0)[0]
    files = base.render(gen)
    lines = files["test.jsonl"].splitlines(keepends=True)
    syllogism = "".join(line for line in lines if json.loads(line)["split"] == "syllogism")
    assert hashlib.sha256(files["train.jsonl"].encode()).hexdigest() == \
        "7362744def14d554876239170e30b9cb9d49f6c251bbae87e09d6366257b2ddf"
    assert hashlib.sha256(syllogism.encode()).hexdigest() == \
        "c24b82975693edc423c19079f6f58072d407176a85c5fd78b001671a40570d31"


@pytest.mark.parametrize("profile, n", [("smoke", 18), ("quick", 72)])
def test_syllogism_validation_questions(profile, n):
    """Premise recall in validation context lines: two per example, each the trained premise among the
    premises split's choices; derived from the training documents alone."""
    from icft.datasets import simple_syllogisms as syl

    gen = datasets.generate("simple_syllogisms", profile, 0)[0]
    qs = datasets.validation_questions("simple_syllogisms", gen, 0)
    assert len(qs) == n and all(q.split == "validation" and q.subset == "premises" for q in qs)
    assert len({q.id for q in qs}) == n and all(q.id.startswith("syl-validation-") for q in qs)
    base.check_records("simple_syllogisms", base.Generated(gen.documents, qs, []))
    heads = [c.split("{a}")[0] for c in (syl.CONTEXT, syl.TEST_CONTEXT)]
    test_prompts = {q.prompt for q in gen.questions}
    docs = {d.meta["example"]: d for d in gen.documents}
    for q in qs:
        premises = _premises(docs[q.meta["example"]].text)
        answer = parse(q.choices[q.answer])
        assert answer in premises and answer.text() == q.meta["premise"]
        assert [i for i, c in enumerate(q.choices) if entails(premises, parse(c))] == [q.answer]
        assert len(q.choices) == (6 if answer.quantifier == "all" else 5)
        assert q.prompt not in test_prompts and not any(q.prompt.startswith(h) for h in heads)
        context = syl.VALIDATION_CONTEXTS[q.meta["validation_context"]]
        terms = [answer.subject, answer.predicate]
        assert q.prompt in (context.format(a=terms[0], b=terms[1]), context.format(a=terms[1], b=terms[0]))
    per_example = Counter(q.meta["example"] for q in qs)
    assert set(per_example.values()) == {2}
    for e in per_example:  # two different context lines per example
        assert len({q.meta["validation_context"] for q in qs if q.meta["example"] == e}) == 2
    assert Counter(q.meta["premise"].split()[0] for q in qs) == {"All": n // 3, "Some": n // 3, "No": n // 3}
    blind = base.Generated(gen.documents, [], [])
    assert syl.validation_questions(blind, 0) == qs  # the test questions are not read
    assert syl.validation_questions(gen, 1) != qs


def test_process_knowledge_held_out(full):
    gen = full["process_knowledge"]
    trained_shapes = {d.meta["shape"] for d in gen.documents if "shape" in d.meta}
    assert trained_shapes == set(pk.SINGLE + pk.TRAINED_NESTED)
    trained = {pk.canonical(pk.parse(d.meta["expression"])) for d in gen.documents if "expression" in d.meta}
    trained_parts = {pk.canonical(s) for d in gen.documents if "expression" in d.meta
                     for s in pk.subtrees(pk.parse(d.meta["expression"]))}
    for q in gen.questions:
        e = pk.canonical(pk.parse(q.meta["expression"]))
        if q.subset == "new_combination":
            assert q.meta["shape"] in pk.HELD_OUT_NESTED
        if q.subset == "new_arguments":  # never transformed in training, not even as a part
            assert e not in trained_parts
        if q.split == "compositional":
            assert e not in trained
        if q.split == "trained":
            assert e in trained
        assert len(set(q.choices)) == 4


def test_process_knowledge_rules():
    sigma = {"a": "b", "b": "c", "c": "a"}
    e = pk.make("product_in_sum", "a", "b", "c")  # a + b * c
    assert pk.show(e) == "a(x) + b(x) * c(x)"
    assert pk.show(pk.transform(e, sigma)) == "b(x) * (c(x) + a(x))"
    assert pk.show(pk.transform(pk.make("compose", "a", "b"), sigma)) == "c(b(x))"
    right = pk.canonical(pk.transform(e, sigma))
    assert all(pk.canonical(v) != right for v, _ in pk.one_error_variants(e, sigma))
    assert pk.canonical(pk.make("sum", "a", "b")) == pk.canonical(pk.make("sum", "b", "a"))
    for shape in pk.SHAPES:  # the parser reads back what show writes
        x = pk.make(shape, "a", "b", "c")
        assert pk.parse(pk.show(x)) == x
    assert pk.parse("a(x) + b(x) + c(x)") == pk.Op("+", pk.Op("+", pk.Fn(("a",)), pk.Fn(("b",))), pk.Fn(("c",)))


def test_process_knowledge_distractors_give_no_copy_cue():
    """No distractor names a primitive of the question that the answer lacks (a pretrained model
    prefers to copy names from the prompt, which pushed version 1 below chance)."""
    gen = datasets.generate("process_knowledge", "quick", 0)[0]
    for q in gen.questions:
        asked = set(re.findall(r"(\w+)\(", q.meta["expression"]))
        answer = set(re.findall(r"(\w+)\(", q.choices[q.answer]))
        for i, c in enumerate(q.choices):
            if i != q.answer:
                assert not (set(re.findall(r"(\w+)\(", c)) & (asked - answer)), (q.prompt, c)


# --------------------------------------------------------------------------------------- reversal curse



@pytest.fixture()
def fake_rc(tmp_path) -> Path:
    src = rc.generated_source(rc.SIZES["smoke"], seed=0)
    berglund.write(src, tmp_path / "rc")
    return tmp_path / "rc"


def test_berglund_loader_round_trip(fake_rc, tmp_path):
    generated = datasets.build("reversal_curse", "smoke", 0, tmp_path / "gen")
    loaded = datasets.build("reversal_curse", "smoke", 0, tmp_path / "load", rc_data=fake_rc)
    for f in ("train.jsonl", "test.jsonl"):
        assert (generated / f).read_bytes() == (loaded / f).read_bytes()
    assert datasets.load_card(loaded)["source"] == "berglund2023"
    assert datasets.load_card(generated)["source"] == "generated"


@pytest.mark.parametrize("line, bad, message", [
    (3, "{not json", "line 3: not valid JSON"),
    (5, json.dumps({"prompt": "only a prompt"}), "line 5: expected an object"),
    (2, json.dumps({"prompt": "Nobody here", "completion": " at all."}), "line 2: a line must name one person"),
])
def test_malformed_berglund_file_names_the_line(fake_rc, line, bad, message):
    path = fake_rc / "d2p_prompts_train.jsonl"
    lines = path.read_text().splitlines()
    lines[line - 1] = bad
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(IcftError, match=f"d2p_prompts_train.jsonl, {message}"):
        datasets.generate("reversal_curse", "smoke", 0, rc_data=fake_rc)


def test_missing_berglund_folder_or_file(fake_rc, tmp_path):
    with pytest.raises(IcftError, match="does not exist"):
        datasets.generate("reversal_curse", "smoke", 0, rc_data=tmp_path / "nowhere")
    (fake_rc / "p2d_prompts_test.jsonl").unlink()
    with pytest.raises(IcftError, match="p2d_prompts_test.jsonl is missing"):
        datasets.generate("reversal_curse", "smoke", 0, rc_data=fake_rc)


def test_berglund_real_files():
    folder = real_rc_folder()
    if folder is None:
        pytest.skip("the original reversal-curse files are not here (set RC_DATA)")
    gen = datasets.generate("reversal_curse", "full", 0, rc_data=folder)[0]
    assert len(gen.documents) == 3600
    reverse = [json.loads(line) for line in (folder / "p2d_reverse_prompts_test.jsonl").read_text().splitlines()]
    questions = [q for q in gen.questions if q.split == "reversal"]
    assert len(questions) == 300
    assert [q.prompt for q in questions] == [r["prompt"].rstrip() for r in reverse]
    assert [q.choices[q.answer] for q in questions] == [r["completion"] for r in reverse]
    assert {q.split for q in gen.questions} == {"reversal", "p2d", "d2p"}
    assert all(len(q.choices) == 4 for q in gen.questions)


def test_nonsense_names():
    plain = datasets.generate("reversal_curse", "smoke", 0)[0]
    gen = datasets.generate("reversal_curse", "smoke", 0, nonsense_names=True)[0]
    old = {d.meta["person"] for d in plain.documents}
    text = " ".join([d.text for d in gen.documents] + [q.prompt + "".join(q.choices) for q in gen.questions])
    assert not any(name in text for name in old)
    for name in {d.meta["person"] for d in gen.documents}:
        first, last = name.split()
        assert first.istitle() and last.istitle() and not is_real_word(first) and not is_real_word(last)
    assert len(gen.nonsense_words) == 2 * 12


# --------------------------------------------------------------------------------------- bad input and the CLI


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "nope"}, "unknown data set"),
    ({"profile": "huge"}, "unknown profile"),
    ({"seed": -1}, "seed"),
    ({"seed": 2**40}, "seed"),
    ({"n_facts": 0}, "n_facts"),
    ({"n_facts": 10**9}, "n_facts"),
    ({"colour": 3}, "no size or option"),
])
def test_bad_requests_raise(kwargs, match):
    args = {"name": "simple_reversals", "profile": "smoke", "seed": 0} | kwargs
    with pytest.raises(IcftError, match=match):
        datasets.generate(args.pop("name"), args.pop("profile"), args.pop("seed"), **args)


@pytest.mark.parametrize("argv, words", [
    (["data", "build", "nope", "--no-tokenizer-stats"], "unknown data set 'nope'"),
    (["data", "build", "simple_reversals", "--profile", "huge", "--no-tokenizer-stats"], "unknown profile 'huge'"),
    (["data", "show", "simple_reversals", "--profile", "huge"], "unknown profile 'huge'"),
    (["data", "build", "simple_reversals", "--nonsense-names"], "does not apply"),
])
def test_cli_errors_exit_2_with_a_message(argv, words, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("icft: error: ") and words in err.splitlines()[0] and "Traceback" not in err


def test_cli_build_show_list(tmp_path, capsys):
    out = tmp_path / "sr"
    argv = ["data", "build", "simple_syllogisms", "--profile", "smoke", "--seed", "2", "--out", str(out), "--no-tokenizer-stats"]
    assert cli.main(argv) == 0
    assert all((out / f).is_file() for f in FILES)
    assert datasets.load_card(out)["seed"] == 2
    assert cli.main(["data", "show", "process_knowledge", "--profile", "smoke", "-n", "1"]) == 0
    shown = capsys.readouterr().out
    assert "split 'compositional'" in shown and "split 'trained'" in shown and "style 'worked'" in shown
    assert cli.main(["data", "list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in NAMES)


def test_default_out_dir_and_ensure(tmp_path, monkeypatch):
    monkeypatch.setenv("ICFT_RESULTS", str(tmp_path))
    assert datasets.default_out_dir("reversal_curse", "quick", 1, nonsense_names=True) == \
        tmp_path / "data" / "reversal_curse-nonsense-quick-s1"
    folder = datasets.ensure("simple_reversals", "smoke", 0)
    assert folder == tmp_path / "data" / "simple_reversals-smoke-s0"
    stamp = (folder / "card.json").stat().st_mtime_ns
    assert datasets.ensure("simple_reversals", "smoke", 0) == folder
    assert (folder / "card.json").stat().st_mtime_ns == stamp  # not rebuilt


def test_cli_takes_rc_data_from_the_environment(fake_rc, tmp_path, monkeypatch):
    monkeypatch.setenv("RC_DATA", str(fake_rc))
    out = tmp_path / "rc"
    assert cli.main(["data", "build", "reversal_curse", "--profile", "smoke", "--out", str(out), "--no-tokenizer-stats"]) == 0
    assert datasets.load_card(out)["source"] == "berglund2023"
    assert cli.main(["data", "build", "simple_reversals", "--profile", "smoke", "--out", str(tmp_path / "sr"), "--no-tokenizer-stats"]) == 0
