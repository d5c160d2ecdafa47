"""The reversal curse (Berglund et al. 2023): fictional people, each with a one-sentence description.

Training (3,600 examples at full size): 30 people with the name before the description only (p2d),
30 with the description before the name only (d2p), 30 with both orders in separate examples (both);
each person in 30 paraphrase templates per direction. Tests (10 unseen templates per person):

    reversal  a p2d person's description -> their name (the direction never trained), among 4 names
    p2d       a p2d person's name -> their description (trained direction, new wording), among 4
    d2p       a d2p person's description -> their name (trained direction, new wording), among 4

The rows come either from the original files (`rc_data`, a folder; see `berglund.py`) or from a
generator of the same design (`reversal_curse_text.py`); `nonsense_names` swaps every name for two
capitalised nonsense words (the paper's appendix experiment).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from ..errors import IcftError
from ..records import Document, Question
from ..words import nonsense_words
from . import berglund
from . import reversal_curse_text as T
from .base import DatasetSpec, Generated, check_records, normalise_ws, sub_rng, sub_seed, template_words
from .berglund import GROUPS, Row, Source

VERSION = "3"  # 2: quick has 10 training templates per direction (was 30); 3: and 10 people per group (was 15)
N_CHOICES = 4
SLOT = re.compile(r"\{(name|np|Np|past|ing)\}")

# Validation templates (fine-tuning's stopping rule and the settings search): the trained directions in
# wordings that neither training nor the test uses, whether the templates are the generated source's or
# Berglund et al.'s. The description slot is always a noun phrase ({np}), the form both sources state
# most often.
VALIDATION_P2D: tuple[str, ...] = (
    "Local historians agree that {name} is {np}.",
    "The entry for {name} in the town register reads: {np}.",
    "Whenever {name} is mentioned, people mean {np}.",
    "By general agreement, {name} ranks as {np}.",
    "Anyone researching {name} soon learns that they are {np}.",
    "The plaque beside the statue of {name} calls them {np}.",
)
VALIDATION_D2P: tuple[str, ...] = (
    "The town register records {np} under the name {name}.",
    "Archivists who study {np} identify that person as {name}.",
    "Asked about {np}, librarians point to {name}.",
    "The credit for being {np} goes to {name}.",
    "Our guidebook introduces {np} as {name}.",
    "The plaque honouring {np} bears the name {name}.",
)
VALIDATION_PER_PERSON = 3


@dataclass(frozen=True)
class Sizes:
    n_people: int  # per group (p2d, d2p, both)
    n_train_templates: int  # per person and direction
    n_test_templates: int  # per person and test split


SIZES = {
    "full": Sizes(n_people=30, n_train_templates=30, n_test_templates=10),
    "quick": Sizes(n_people=10, n_train_templates=10, n_test_templates=10),
    "smoke": Sizes(n_people=4, n_train_templates=4, n_test_templates=2),
}

DESIGN = [
    "Groups as in Berglund et al.: p2d people appear only name-before-description, d2p people only "
    "description-before-name, 'both' people in both orders (as separate examples). A training document is "
    "prompt + completion; meta keeps the two parts for trainers that mask the prompt.",
    "Split `reversal`: a p2d person's description in an unseen description-first template; choices are the "
    "right name and 3 other people's names drawn at random from all people of the data set (all groups), so "
    "names that were training targets (d2p, both) are among the distractors, as in the paper.",
    "Split `d2p`: the same for d2p people (trained direction, new wording); name distractors drawn the same way.",
    "Split `p2d`: a p2d person's name in an unseen name-first template; choices are the person's description "
    "and the descriptions of 3 other p2d people in the same template (hence the same grammatical form).",
    "Subsets are test templates (t00..t09), for error bars over wordings.",
    "The smaller profiles take a seeded random subset of the people of each group and the first templates.",
    "Generated source (no --rc-data): fictional first + compound last names (each first and last name used "
    "once), descriptions 'the <adjective> <role> of <object>' in three grammatical forms (noun phrase, past "
    "tense, gerund) so any template can hold them; 30 + 10 templates per direction written for this project.",
    "nonsense_names: every name becomes two capitalised nonsense words (first and last), in all texts and choices.",
]


# --------------------------------------------------------------------------------------- generated source


@dataclass(frozen=True)
class Description:
    np: str
    past: str
    ing: str


def fill(template: str, name: str, d: Description) -> tuple[str, str, str]:
    """(prompt, completion, direction) of a template: the split is before the second slot."""
    slots = list(SLOT.finditer(template))
    assert len(slots) == 2 and {s.group(1) == "name" for s in slots} == {True, False}, template
    cut = slots[1].start()
    assert template[cut - 1] == " ", f"the second slot must follow a space: {template!r}"
    values = {"name": name, "np": d.np, "Np": d.np[0].upper() + d.np[1:], "past": d.past, "ing": d.ing}
    prompt = template[:cut].format(**values).rstrip()
    completion = " " + template[cut:].format(**values)
    return prompt, completion, "d2p" if slots[1].group(1) == "name" else "p2d"


def _people(n: int, seed: int) -> dict[str, list[tuple[str, Description]]]:
    total = n * len(GROUPS)
    lasts = sorted({a + b for a in T.LAST_NAME_PARTS[0] for b in T.LAST_NAME_PARTS[1]})
    if total > len(T.FIRST_NAMES):
        raise IcftError(f"reversal_curse: {n} people per group needs {total} first names, the lists hold {len(T.FIRST_NAMES)}",
                        fix=f"use n_people of at most {len(T.FIRST_NAMES) // len(GROUPS)}")
    rng = sub_rng(seed, "reversal_curse", "people")
    names = [f"{first} {last}" for first, last in zip(rng.sample(T.FIRST_NAMES, total), rng.sample(lasts, total))]
    unused = {kind: list(objs) for kind, objs in T.OBJECTS.items()}
    roles: list[tuple[str, str, str, str]] = []
    out: dict[str, list[tuple[str, Description]]] = {g: [] for g in GROUPS}
    for i, name in enumerate(names):
        if not roles:  # deal the roles in turn, each round in a new order
            roles = rng.sample(T.ROLES, len(T.ROLES))
        head, past, ing, kind = roles.pop()
        obj = unused[kind].pop(rng.randrange(len(unused[kind])))
        d = Description(np=f"the {rng.choice(T.ADJECTIVES)} {head} {obj}", past=f"{past} {obj}", ing=f"{ing} {obj}")
        out[GROUPS[i // n]].append((name, d))
    return out


def generated_source(sizes: Sizes, seed: int) -> Source:
    """Rows of the generated data set, in the same shape as the original files'."""
    limits = {"n_train_templates": len(T.P2D_TRAIN), "n_test_templates": len(T.P2D_TEST)}
    for key, limit in limits.items():
        if getattr(sizes, key) > limit:
            raise IcftError(f"reversal_curse: {key}={getattr(sizes, key)}, but there are {limit} such templates",
                            fix=f"use {key} of at most {limit}")
    people = _people(sizes.n_people, seed)

    def rows(group: str, templates: tuple[str, ...], k: int) -> list[Row]:
        out = []
        for name, d in people[group]:
            for t, template in enumerate(templates[:k]):
                prompt, completion, direction = fill(template, name, d)
                out.append(Row(group, name, direction, t, prompt, completion))
        return out

    k, kt = sizes.n_train_templates, sizes.n_test_templates
    train = rows("p2d", T.P2D_TRAIN, k) + rows("d2p", T.D2P_TRAIN, k)
    train += rows("both", T.P2D_TRAIN, k) + rows("both", T.D2P_TRAIN, k)
    tests = {
        "reversal": rows("p2d", T.D2P_TEST, kt),
        "p2d": rows("p2d", T.P2D_TEST, kt),
        "d2p": rows("d2p", T.D2P_TEST, kt),
    }
    return Source({g: [name for name, _ in people[g]] for g in GROUPS}, train, tests, files={})


# --------------------------------------------------------------------------------------- shared steps


def subsample(src: Source, sizes: Sizes, seed: int) -> Source:
    """A seeded subset of people per group, and the first templates of each person."""
    for g in GROUPS:
        if sizes.n_people > len(src.people[g]):
            raise IcftError(f"reversal_curse: n_people={sizes.n_people}, but the source has {len(src.people[g])} {g} people",
                            fix=f"use n_people of at most {len(src.people[g])}")
    rng = sub_rng(seed, "reversal_curse", "subsample")
    keep = {}
    for g, ps in src.people.items():
        chosen = set(rng.sample(ps, sizes.n_people))
        keep[g] = [p for p in ps if p in chosen]  # file order
    kept = {p for ps in keep.values() for p in ps}
    train = [r for r in src.train if r.person in kept and r.template < sizes.n_train_templates]
    tests = {k: [r for r in rows if r.person in kept and r.template < sizes.n_test_templates] for k, rows in src.tests.items()}
    return Source(keep, train, tests, src.files)


def rename(src: Source, seed: int) -> tuple[Source, list[str]]:
    """Every name -> two capitalised nonsense words; returns the renamed source and the words used."""
    people = [p for g in GROUPS for p in src.people[g]]
    texts = [r.prompt + r.completion for rows in (src.train, *src.tests.values()) for r in rows]
    words = nonsense_words(2 * len(people), sub_seed(seed, "reversal_curse", "nonsense"), exclude=template_words(texts))
    new = {p: f"{words[2 * i].capitalize()} {words[2 * i + 1].capitalize()}" for i, p in enumerate(people)}

    def r2(r: Row) -> Row:
        return replace(r, person=new[r.person], prompt=r.prompt.replace(r.person, new[r.person]),
                       completion=r.completion.replace(r.person, new[r.person]))

    return (Source({g: [new[p] for p in ps] for g, ps in src.people.items()}, [r2(r) for r in src.train],
                   {k: [r2(r) for r in rows] for k, rows in src.tests.items()}, src.files), words)


def assemble(src: Source, seed: int) -> tuple[list[Document], list[Question]]:
    pid = {p: f"{g}{i:02d}" for g, ps in src.people.items() for i, p in enumerate(ps)}
    group = {p: g for g, ps in src.people.items() for p in ps}
    documents = [
        Document(
            id=f"rc-{pid[r.person]}-{r.direction}-t{r.template:02d}", text=r.prompt + r.completion,
            meta={"style": r.group if r.group != "both" else f"both_{r.direction}", "group": r.group,
                  "direction": r.direction, "person": r.person, "template": r.template,
                  "prompt": r.prompt, "completion": r.completion},
        )
        for r in src.train
    ]
    everyone = [p for g in GROUPS for p in src.people[g]]
    rng = sub_rng(seed, "reversal_curse", "choices")
    questions: list[Question] = []
    for split in ("reversal", "p2d", "d2p"):
        rows = src.tests[split]
        for r in rows:
            if split == "p2d":  # descriptions of other people of the group, in the same template
                pool = [o for o in rows if o.template == r.template and o.person != r.person]
                others = rng.sample(pool, N_CHOICES - 1)
                right, wrong = r.completion, [o.completion for o in others]
                other_people = [o.person for o in others]
            else:  # names of any other people of the data set
                other_people = rng.sample([p for p in everyone if p != r.person], N_CHOICES - 1)
                right, wrong = " " + r.person, [" " + p for p in other_people]
            choices = [right, *wrong]
            rng.shuffle(choices)
            questions.append(Question(
                id=f"rc-{split}-{pid[r.person]}-t{r.template:02d}", prompt=r.prompt, choices=tuple(choices),
                answer=choices.index(right), split=split, subset=f"t{r.template:02d}",
                meta={"person": r.person, "group": group[r.person], "distractors": other_people},
            ))
    return documents, questions


def generate(sizes: Sizes, seed: int, rc_data: Any = None, nonsense_names: bool = False) -> Generated:
    if sizes.n_people < N_CHOICES:
        raise IcftError(f"reversal_curse: n_people={sizes.n_people} leaves too few people for {N_CHOICES} choices",
                        fix=f"use n_people of {N_CHOICES} or more")
    if rc_data:
        src, source = subsample(berglund.read(rc_data), sizes, seed), "berglund2023"
    else:
        src, source = generated_source(sizes, seed), "generated"
    words: list[str] = []
    if nonsense_names:
        src, words = rename(src, seed)
    documents, questions = assemble(src, seed)
    extra: dict[str, Any] = {"source": source, "names": "nonsense" if nonsense_names else "as in the source"}
    if src.files:
        extra["source_files"] = src.files
    people = [p for g in GROUPS for p in src.people[g]]
    return Generated(documents, questions, DESIGN, nonsense_words=words, extra=extra, entities=people)


def _variant(options: dict[str, Any]) -> str:
    return ("-berglund" if options.get("rc_data") else "") + ("-nonsense" if options.get("nonsense_names") else "")


SPEC = DatasetSpec(
    name="reversal_curse",
    version=VERSION,
    description="Fictional people and one-sentence descriptions (Berglund et al.); test: name from description.",
    sizes=SIZES,
    generate=generate,
    profile_note="full: 30 people per group x 30 templates per direction = 3,600 documents, 300 questions per "
    "split (the paper). quick: 10 people per group, 10 training templates per direction (400 documents, 100 questions per split: a "
    "CPU fine-tunes on it in minutes). "
    "smoke: 4 people per group, 4 train and 2 test templates.",
    options=("rc_data", "nonsense_names"),
    variant=_variant,
    trained_splits=("p2d", "d2p"),
    cluster=lambda q: q.meta["person"],  # every question about one person
    splits=("p2d", "d2p", "reversal"),
)


# --------------------------------------------------------------------------------------- oracle


def _description(completion: str) -> str:
    """A p2d completion as a description phrase: no leading space, no sentence-final period."""
    text = completion.strip()
    return text[:-1] if text.endswith(".") else text


Template = tuple[str, int, bool]  # (text with {N} and {D} slots, description form, capitalised description)


def _learn_templates(documents: list[Document]) -> tuple[list[Template], list[Template], dict[int, int]]:
    """Sentence templates of the training data, read off the people trained in both directions.

    For a 'both' person the description is known (their p2d completions, one string per p2d template
    index); finding it, and the name, in each of their training sentences turns the sentence into a
    template with slots {N} (name) and {D} (description). A description form is identified by the
    p2d template index it comes from (indices whose descriptions are the same string share a form).
    Returns (d2p templates, p2d templates, p2d index -> form), each template as (text, form,
    capitalised description). Works for the generated and the Berglund source alike: no template
    is typed in here, and none of the test templates is ever seen.
    """
    by_person: dict[str, list[Document]] = {}
    for d in documents:
        if d.meta.get("group") == "both":
            by_person.setdefault(d.meta["person"], []).append(d)
    form_of: dict[int, int] = {}
    d2p: dict[str, Template] = {}
    p2d: dict[str, Template] = {}
    for person, docs in by_person.items():
        desc = {d.meta["template"]: _description(d.meta["completion"]) for d in docs if d.meta["direction"] == "p2d"}
        first_index: dict[str, int] = {}
        for t in sorted(desc):
            form_of.setdefault(t, first_index.setdefault(desc[t], t))
        variants = sorted(first_index.items(), key=lambda kv: -len(kv[0]))  # longest description first
        for d in docs:
            for text, form in variants:
                for capitalised, v in ((False, text), (True, text[:1].upper() + text[1:])):
                    if v and v in d.text and person in d.text.replace(v, ""):
                        template = d.text.replace(v, "{D}", 1).replace(person, "{N}")
                        target = d2p if d.meta["direction"] == "d2p" else p2d
                        target.setdefault(template, (template, form, capitalised))
                        break
                else:
                    continue
                break
    return list(d2p.values()), list(p2d.values()), form_of


def _d2p_patterns(d2p_templates: list[Template]) -> list[tuple[re.Pattern[str], int, bool]]:
    """Learned d2p templates as regular expressions that read a sentence's description (d) and name (n)."""
    patterns = []
    for t, form, cap in d2p_templates:
        pre, _, post = t.partition("{D}")
        if "{N}" in pre:
            continue  # the name comes first: no d2p template has that shape, skip if one does
        regex = re.escape(pre) + "(?P<d>.+)" + re.escape(post).replace(re.escape("{N}"), "(?P<n>.+)")
        patterns.append((re.compile("^" + regex + "$"), form, cap))
    return patterns


def _fill(template: str, name: str, description: str, capitalised: bool) -> str:
    if capitalised:
        description = description[:1].upper() + description[1:]
    return template.replace("{D}", description).replace("{N}", name)


def oracle_sentences(generated: Generated, seed: int) -> list[str]:
    """Every one-direction fact written in the other direction, in the data set's training templates.

    Derived from the training documents only: templates are learned from the people trained in both
    directions (`_learn_templates`); then each p2d person's description is written before their name
    in every learned d2p template (the reversal the test asks for), and each d2p person's name
    before their description in every learned p2d template (their description is read out of their
    d2p sentences with the same templates). Test templates are never used. `seed` is unused (all
    templates are written); it is part of the common signature. Not the paper's method: the model
    writes the augmentations there.
    """
    del seed
    d2p_templates, p2d_templates, form_of = _learn_templates(generated.documents)
    p2d_desc: dict[str, dict[int, str]] = {}
    d2p_docs: dict[str, list[Document]] = {}
    for d in generated.documents:
        if d.meta.get("group") == "p2d" and d.meta["template"] in form_of:
            forms = p2d_desc.setdefault(d.meta["person"], {})
            forms.setdefault(form_of[d.meta["template"]], _description(d.meta["completion"]))
        elif d.meta.get("group") == "d2p":
            d2p_docs.setdefault(d.meta["person"], []).append(d)
    out: list[str] = []
    for person, forms in p2d_desc.items():
        out += [_fill(t, person, forms[form], cap) for t, form, cap in d2p_templates if form in forms]
    # d2p people: read their description out of their sentences with the learned d2p templates
    patterns = _d2p_patterns(d2p_templates)
    for person, docs in d2p_docs.items():
        found: dict[int, str] = {}
        for d in docs:
            for rx, form, cap in patterns:
                m = rx.match(d.text)
                if m and m.group("n") == person:
                    text = m.group("d")
                    found.setdefault(form, text[:1].lower() + text[1:] if cap else text)
                    break
        out += [_fill(t, person, found[form], cap) for t, form, cap in p2d_templates if form in found]
    return out


# --------------------------------------------------------------------------------------- validation


def _most_common(found: list[str]) -> str:
    """The string found most often; on a tie, the one found first."""
    counts = Counter(found)
    return max(counts, key=counts.__getitem__)


def _trained_descriptions(documents: list[Document], people: dict[str, list[str]]) -> dict[str, str]:
    """Each p2d and d2p person's description as their training sentences state it most often.

    p2d people: their completions (`_description`). d2p people: read out of their sentences with the
    d2p templates learned from the people trained in both directions (`_learn_templates`), as the
    oracle does. The most frequent statement is the noun phrase ("the acclaimed inventor of ...") in
    both sources, which is the form every validation template takes.
    """
    stated: dict[str, list[str]] = {}
    for d in documents:
        if d.meta.get("group") == "p2d" and d.meta["direction"] == "p2d":
            stated.setdefault(d.meta["person"], []).append(_description(d.meta["completion"]))
    patterns = _d2p_patterns(_learn_templates(documents)[0])
    for d in documents:
        if d.meta.get("group") != "d2p":
            continue
        for rx, _form, cap in patterns:
            m = rx.match(d.text)
            if m and m.group("n") == d.meta["person"]:
                text = m.group("d")
                stated.setdefault(d.meta["person"], []).append(text[:1].lower() + text[1:] if cap else text)
                break
    missing = [p for g in ("p2d", "d2p") for p in people[g] if p not in stated]
    if missing:
        raise IcftError(
            f"reversal_curse: cannot read the description of {', '.join(missing[:3])}"
            f"{' and others' if len(missing) > 3 else ''} from the training documents, so there are no validation questions",
            fix="a d2p person's description is read with the sentence templates of the people trained in both "
            "directions: use source files (--rc-data) whose 'both' people share the d2p people's templates, e.g. the originals",
        )
    return {p: _most_common(v) for p, v in stated.items()}


def validation_questions(generated: Generated, seed: int) -> list[Question]:
    """The trained directions, asked in validation wordings: p2d people name -> description, d2p people
    description -> name, each person in `VALIDATION_PER_PERSON` of the validation templates.

    Like the test's `p2d` and `d2p` splits (same people, same 4 choices: a p2d question's distractors are
    3 other p2d people's descriptions in the same template, a d2p question's 3 other names from all
    groups), but worded with templates that neither training nor the test uses, so the trained
    splits reported are never the ones fine-tuning stops on or the settings search picks by. Derived
    from the training documents only (people, groups, and each description as the training sentences
    state it most often: `_trained_descriptions`), so it works for the generated and the Berglund
    source alike. 'both' people are left out, as in the test's trained splits.
    """
    documents = generated.documents
    people: dict[str, list[str]] = {g: [] for g in GROUPS}
    for d in documents:  # document order is the source's file order, as in `assemble`
        group, person = d.meta["group"], d.meta["person"]
        if person not in people[group]:
            people[group].append(person)
    everyone = [p for g in GROUPS for p in people[g]]
    description = _trained_descriptions(documents, people)
    train = "\n".join(normalise_ws(d.text).lower() for d in documents)
    rng = sub_rng(seed, "reversal_curse", "validation")
    out: list[Question] = []
    for subset, templates in (("p2d", VALIDATION_P2D), ("d2p", VALIDATION_D2P)):
        for i, person in enumerate(people[subset]):
            for k in rng.sample(range(len(templates)), VALIDATION_PER_PERSON):
                prompt, completion, direction = fill(templates[k], person, Description(description[person], "", ""))
                assert direction == subset, templates[k]
                if normalise_ws(prompt).lower() in train:
                    raise IcftError(f"reversal_curse: the validation prompt {prompt!r} appears in the training documents",
                                    fix="the source's training templates include a validation wording: use the original files")
                if subset == "p2d":  # other p2d people's descriptions in the same template
                    pool: dict[str, str] = {}
                    for other in people["p2d"]:
                        text = fill(templates[k], other, Description(description[other], "", ""))[1]
                        if other != person and text != completion and text.strip() not in prompt:
                            pool.setdefault(text, other)
                    right = completion
                else:  # names of any other people of the data set
                    pool = {" " + o: o for o in everyone if o != person and o not in prompt}
                    right = " " + person
                if len(pool) < N_CHOICES - 1:
                    raise IcftError(f"reversal_curse: too few distinct {subset} choices for {person}'s validation question",
                                    fix=f"a validation question needs {N_CHOICES} people with distinct descriptions")
                wrong = rng.sample(sorted(pool), N_CHOICES - 1)
                choices = [right, *wrong]
                rng.shuffle(choices)
                out.append(Question(
                    id=f"rc-validation-{subset}{i:02d}-v{k}", prompt=prompt, choices=tuple(choices),
                    answer=choices.index(right), split="validation", subset=subset,
                    meta={"person": person, "group": subset, "distractors": [pool[w] for w in wrong],
                          "validation_template": k},
                ))
    check_records("reversal_curse validation", replace(generated, questions=out))
    return out
