"""Process knowledge: a made-up transform of expressions, with some combinations of its rules held out.

The paper's appendix describes "a pseudo-mathematical procedure, a function-to-function transform
like taking a derivative but with uncommon rules", trained on some combinations of rules and tested
on others. It gives few details; this is our version (the card's "design" lists every choice).

The language: primitive functions with nonsense names ("blick(x)"), composed ("blick(trop(x))"),
added and multiplied ("blick(x) + trop(x) * snel(x)"). The transform, also a nonsense word ("the zorp
of"), has one rule per primitive and one per way of combining:

    zorp(p)        = sigma(p)                   a fixed primitive, never p itself
    zorp(f(g(x)))  = zorp(g)(zorp(f)(x))        composition: transform both, swap their order
    zorp(f + g)    = zorp(f) * zorp(g)          a sum becomes a product
    zorp(f * g)    = zorp(f) + zorp(g)          a product becomes a sum

Both binary rules are symmetric, so the transform is consistent with + and * being commutative, and
answers are compared up to commutativity and associativity (a distractor never equals the answer
under them). Brackets are kept where the result needs them: zorp(p + q * r) = zorp(p) * (zorp(q) + zorp(r)).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

from ..errors import IcftError
from ..records import Document, Question
from ..words import nonsense_words
from .base import DatasetSpec, Generated, check_records, sub_rng, sub_seed, template_words

VERSION = "2"  # 2: distractors carry no copy cue (same structure as the answer, no name only the question has)
N_CHOICES = 4
MAX_TRIES = 20_000


# --------------------------------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Fn:
    """A primitive or a composition of primitives applied to x: ("blick", "trop") is blick(trop(x))."""

    chain: tuple[str, ...]


@dataclass(frozen=True)
class Op:
    op: str  # "+" or "*"
    left: Expr
    right: Expr


Expr = Fn | Op
SWAP = {"+": "*", "*": "+"}


def show(e: Expr, parent: str | None = None) -> str:
    """Text of an expression; a sum inside a product gets brackets."""
    if isinstance(e, Fn):
        return "".join(f"{p}(" for p in e.chain) + "x" + ")" * len(e.chain)
    s = f"{show(e.left, e.op)} {e.op} {show(e.right, e.op)}"
    return f"({s})" if parent == "*" and e.op == "+" else s


def parse(text: str) -> Expr:
    """The inverse of `show`: "a(x) + b(c(x)) * d(x)" -> Op("+", Fn(("a",)), Op("*", ...)); left-associative."""
    tokens = re.findall(r"[A-Za-z]+|[()+*]", text)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take(expected: str | None = None) -> str:
        nonlocal pos
        tok = peek()
        if tok is None or (expected is not None and tok != expected):
            raise ValueError(f"cannot parse {text!r}: expected {expected or 'more'} at token {pos}")
        pos += 1
        return tok

    def binary(op: str, operand) -> Expr:
        e = operand()
        while peek() == op:
            take(op)
            e = Op(op, e, operand())
        return e

    def atom() -> Expr:
        if peek() == "(":
            take("(")
            e = binary("+", product)
            take(")")
            return e
        chain = []
        while peek() not in (None, "x"):
            chain.append(take())
            take("(")
        take("x")
        for _ in chain:
            take(")")
        return Fn(tuple(chain))

    def product() -> Expr:
        return binary("*", atom)

    e = binary("+", product)
    if peek() is not None:
        raise ValueError(f"cannot parse {text!r}: unexpected {peek()!r}")
    return e


def canonical(e: Expr) -> str:
    """A form equal for expressions equal up to commutativity and associativity of + and *."""
    if isinstance(e, Fn):
        return show(e)

    def flat(x: Expr, op: str) -> list[str]:
        return flat(x.left, op) + flat(x.right, op) if isinstance(x, Op) and x.op == op else [canonical(x)]

    return "[" + e.op.join(sorted(flat(e, e.op))) + "]"


def subtrees(e: Expr) -> list[Expr]:
    return [e] + (subtrees(e.left) + subtrees(e.right) if isinstance(e, Op) else [])


def transform(e: Expr, sigma: dict[str, str]) -> Expr:
    """The correct transform (the rules in the module docstring)."""
    if isinstance(e, Fn):
        return Fn(tuple(sigma[p] for p in reversed(e.chain)))
    return Op(SWAP[e.op], transform(e.left, sigma), transform(e.right, sigma))


def primitives(e: Expr) -> set[str]:
    if isinstance(e, Fn):
        return set(e.chain)
    return primitives(e.left) | primitives(e.right)


def one_error_variants(e: Expr, sigma: dict[str, str], avoid: frozenset[str] = frozenset()) -> list[tuple[Expr, str]]:
    """Every result of transforming `e` with exactly one rule applied wrongly, with the kind of error.

    primitive: one primitive mapped to a wrong primitive (never one of `avoid`);
    composition: a composition transformed without swapping the order;
    operator: a sum or product whose operator is not swapped.
    """
    if isinstance(e, Fn):
        right = transform(e, sigma).chain
        out: list[tuple[Expr, str]] = []
        for i, image in enumerate(right):
            for wrong in sorted(set(sigma) - {image} - avoid):
                out.append((Fn(right[:i] + (wrong,) + right[i + 1:]), "primitive"))
        if len(e.chain) > 1:
            out.append((Fn(tuple(sigma[p] for p in e.chain)), "composition"))
        return out
    zl, zr = transform(e.left, sigma), transform(e.right, sigma)
    return (
        [(Op(SWAP[e.op], v, zr), k) for v, k in one_error_variants(e.left, sigma, avoid)]
        + [(Op(SWAP[e.op], zl, v), k) for v, k in one_error_variants(e.right, sigma, avoid)]
        + [(Op(e.op, zl, zr), "operator")]
    )


def regrouped(e: Expr) -> list[Expr]:
    """`e` with the brackets of one bracketed sum dropped (read with the usual precedence)."""
    if not isinstance(e, Op):
        return []
    out: list[Expr] = []
    if e.op == "*" and isinstance(e.right, Op) and e.right.op == "+":  # a * (b + c) -> a * b + c
        out.append(Op("+", Op("*", e.left, e.right.left), e.right.right))
    if e.op == "*" and isinstance(e.left, Op) and e.left.op == "+":  # (a + b) * c -> a + b * c
        out.append(Op("+", e.left.left, Op("*", e.left.right, e.right)))
    out += [Op(e.op, v, e.right) for v in regrouped(e.left)] + [Op(e.op, e.left, v) for v in regrouped(e.right)]
    return out


# Shapes: which rules an expression combines. p, q, r are distinct primitives.
SHAPES: dict[str, tuple[str, str]] = {
    # name: (description, rules combined)
    "compose": ("p(q(x))", "composition"),
    "sum": ("p(x) + q(x)", "sum"),
    "product": ("p(x) * q(x)", "product"),
    "compose_in_sum": ("p(q(x)) + r(x)", "composition inside a sum"),
    "sum_in_product": ("(p(x) + q(x)) * r(x)", "sum inside a product"),
    "compose_in_product": ("p(q(x)) * r(x)", "composition inside a product"),
    "product_in_sum": ("p(x) + q(x) * r(x)", "product inside a sum"),
}
SINGLE = ("compose", "sum", "product")
TRAINED_NESTED = ("compose_in_sum", "sum_in_product")
HELD_OUT_NESTED = ("compose_in_product", "product_in_sum")


def make(shape: str, p: str, q: str, r: str = "") -> Expr:
    return {
        "compose": lambda: Fn((p, q)),
        "sum": lambda: Op("+", Fn((p,)), Fn((q,))),
        "product": lambda: Op("*", Fn((p,)), Fn((q,))),
        "compose_in_sum": lambda: Op("+", Fn((p, q)), Fn((r,))),
        "sum_in_product": lambda: Op("*", Op("+", Fn((p,)), Fn((q,))), Fn((r,))),
        "compose_in_product": lambda: Op("*", Fn((p, q)), Fn((r,))),
        "product_in_sum": lambda: Op("+", Fn((p,)), Op("*", Fn((q,)), Fn((r,)))),
    }[shape]()


# --------------------------------------------------------------------------------------- text

PRIMITIVE_RULES = (
    "The {t} of {p}(x) is {q}(x).",
    "Taking the {t} of {p}(x) gives {q}(x).",
    "Remember that {p}(x) has {q}(x) as its {t}.",
    "Rule: {t}({p}) = {q}. In words, the {t} of {p}(x) is {q}(x).",
)
COMBINATOR_RULES = {
    "sum": (
        "For any expressions f(x) and g(x), the {t} of f(x) + g(x) is the {t} of f(x) times the {t} of g(x).",
        "The {t} of a sum is the product of the {t}s of its terms: {t}(f + g) = {t}(f) * {t}(g).",
        "To take the {t} of a sum, take the {t} of each term and multiply them together.",
    ),
    "product": (
        "For any expressions f(x) and g(x), the {t} of f(x) * g(x) is the {t} of f(x) plus the {t} of g(x).",
        "The {t} of a product is the sum of the {t}s of its factors: {t}(f * g) = {t}(f) + {t}(g).",
        "To take the {t} of a product, take the {t} of each factor and add them together.",
    ),
    "composition": (
        "For any functions f and g, the {t} of f(g(x)) is the {t} of g applied to the {t} of f of x.",
        "The {t} of a composition swaps the order: {t}(f(g(x))) = {t}(g)({t}(f)(x)).",
        "To take the {t} of f(g(x)), take the {t} of f and the {t} of g, then apply the {t} of g to the {t} of f.",
    ),
}
EXAMPLE_TEMPLATES = (
    "The {t} of {e} is {z}.",
    "Taking the {t} of {e} gives {z}.",
    "The {t} of {e} equals {z}.",
)
# Test wordings, never used in training; the answer ends the sentence.
TEST_TEMPLATES = (
    "Applying {t} to {e} yields {z}.",
    "If we take the {t} of {e}, we get {z}.",
    "Q: What is the {t} of {e}? A: {z}.",
)
# Validation wordings (fine-tuning's stopping rule and the settings search), used by neither training
# (rules, examples, worked derivations) nor the test; the answer ends the sentence.
VALIDATION_TEMPLATES = (
    "Under {t}, the expression {e} is sent to {z}.",
    "Computing {t} for {e} produces {z}.",
    "One can check that {t} maps {e} to {z}.",
    "Transforming {e} by {t} results in {z}.",
)


def worked(e: Expr, sigma: dict[str, str], t: str) -> str:
    """A step-by-step derivation, bottom-up, ending with the answer."""
    steps: list[str] = []

    def walk(x: Expr) -> None:
        z = show(transform(x, sigma))
        if isinstance(x, Fn):
            for p in x.chain:
                steps.append(f"The {t} of {p}(x) is {sigma[p]}(x).")
            if len(x.chain) > 1:
                steps.append(f"A composition swaps the order, so the {t} of {show(x)} is {z}.")
            return
        walk(x.left)
        walk(x.right)
        kind = "sum becomes a product" if x.op == "+" else "product becomes a sum"
        steps.append(f"A {kind}, so the {t} of {show(x)} is {z}.")

    walk(e)
    answer = show(transform(e, sigma))
    return f"To find the {t} of {show(e)}, work from the inside out. {' '.join(steps)} So the {t} of {show(e)} is {answer}."


# --------------------------------------------------------------------------------------- generator


@dataclass(frozen=True)
class Sizes:
    n_primitives: int
    rule_repeats: int  # phrasings per rule in training (at most 3 for combinators, 4 for primitives)
    n_examples: int  # training expressions (single-rule shapes and the trained nested shapes)
    n_new_combination: int  # test: the held-out nested shapes
    n_new_arguments: int  # test: single-rule shapes with primitives never combined that way in training
    n_trained: int  # test: training expressions in a new wording


SIZES = {
    "full": Sizes(n_primitives=10, rule_repeats=3, n_examples=150, n_new_combination=60, n_new_arguments=30, n_trained=50),
    "quick": Sizes(n_primitives=8, rule_repeats=3, n_examples=75, n_new_combination=30, n_new_arguments=15, n_trained=25),
    "smoke": Sizes(n_primitives=5, rule_repeats=2, n_examples=10, n_new_combination=4, n_new_arguments=3, n_trained=4),
}

DESIGN = [
    "The paper gives few details; everything here is our choice. Transform: a nonsense word t ('the t of ...'), "
    "primitives: nonsense-named functions of x. Rules: t(p) = sigma(p), a fixed other primitive (sigma is a random "
    "map without fixed points); t(f(g(x))) = t(g)(t(f)(x)); t(f + g) = t(f) * t(g); t(f * g) = t(f) + t(g).",
    "Both binary rules are symmetric, so the transform is well defined if + and * commute; answers and "
    "distractors are compared up to commutativity and associativity, so no distractor is 'also right'.",
    "Shapes (which rules an expression combines): single rules p(q(x)), p(x) + q(x), p(x) * q(x); nested "
    "'composition inside a sum' and 'sum inside a product' are trained; 'composition inside a product' and "
    "'product inside a sum' are never trained (their results need the product and composition rules together, "
    "and brackets).",
    "Training documents: every primitive rule and every combining rule in `rule_repeats` phrasings (style 'rule'), "
    "then one document per training expression, alternately a one-line example (style 'example') or a "
    "step-by-step derivation (style 'worked').",
    "Split `compositional`: subset 'new_combination' = the two held-out nested shapes (half each); subset "
    "'new_arguments' = single-rule shapes over primitives never combined that way in training (no training "
    "expression contains them, up to commutativity). Split `trained`: training expressions (subsets 'single', "
    "'nested') in a test wording.",
    "Test wordings ('Applying t to E yields', ...) are never used in training and are shared by both splits.",
    "Choices: the correct result and 3 results with exactly one rule applied wrongly, of the same structure as the "
    "answer: a primitive mapped to a wrong primitive (never a name of the question or one the answer already has) "
    "or a composition not swapped. Unswapped operators and dropped brackets are used only where too few of those "
    "exist (smoke): they copy the question's form, which a pretrained model prefers (version 1 used them "
    "and scored far below chance). Distractor kinds are mixed when several exist.",
]


def _derangement(items: list[str], rng: random.Random) -> dict[str, str]:
    while True:
        images = rng.sample(items, len(items))
        if all(a != b for a, b in zip(items, images)):
            return dict(zip(items, images))


def _choices(e: Expr, sigma: dict[str, str], rng: random.Random) -> tuple[list[str], int, list[str]]:
    """(choice texts, index of the answer, kinds of the distractors in choice order)."""
    right = transform(e, sigma)
    seen = {canonical(right)}
    by_kind: dict[str, list[Expr]] = {}
    # Distractors must not be told apart by a copy cue. Models prefer to repeat what the prompt says, and
    # version 1 (which also used unswapped operators, dropped brackets and names of the question)
    # put the pretrained model far below chance. So distractors keep the answer's structure
    # (operators swapped, brackets kept) and never use a name that only the question has or that the
    # answer already uses; the operator and bracket errors come in only where too few remain (tiny profiles).
    avoid = frozenset(primitives(e) | primitives(right))
    preferred = [(v, k) for v, k in one_error_variants(e, sigma, avoid) if k in ("primitive", "composition")]
    fallback = one_error_variants(e, sigma) + [(g, "grouping") for g in regrouped(right)]
    for variants in (preferred, fallback):
        for v, kind in variants:
            c = canonical(v)
            if c not in seen:
                seen.add(c)
                by_kind.setdefault(kind, []).append(v)
        if sum(map(len, by_kind.values())) >= N_CHOICES - 1:
            break
    picked: list[tuple[Expr, str]] = []
    kinds = sorted(by_kind)
    rng.shuffle(kinds)
    while len(picked) < N_CHOICES - 1 and any(by_kind.values()):
        for kind in kinds:  # one of each kind in turn
            if by_kind[kind] and len(picked) < N_CHOICES - 1:
                picked.append((by_kind[kind].pop(rng.randrange(len(by_kind[kind]))), kind))
    assert len(picked) == N_CHOICES - 1, f"too few distractors for {show(e)}"
    options = [(right, "correct"), *picked]
    rng.shuffle(options)
    texts = [f" {show(x)}." for x, _ in options]
    return texts, [k for _, k in options].index("correct"), [k for _, k in options if k != "correct"]


def generate(sizes: Sizes, seed: int) -> Generated:
    if sizes.n_primitives < 4:
        raise IcftError("process_knowledge: n_primitives must be at least 4 (for distractors)", fix="use n_primitives >= 4")
    if sizes.rule_repeats > 3:
        raise IcftError("process_knowledge: rule_repeats is at most 3 (phrasings written)", fix="use rule_repeats <= 3")
    if sizes.n_trained > sizes.n_examples:
        raise IcftError("process_knowledge: n_trained cannot exceed n_examples", fix="lower n_trained")
    texts = [*PRIMITIVE_RULES, *(s for v in COMBINATOR_RULES.values() for s in v), *EXAMPLE_TEMPLATES, *TEST_TEMPLATES,
             "to find work from the inside out a composition swaps the order so sum becomes product"]
    exclude = template_words(texts) | {"x", "f", "g"}
    words = nonsense_words(sizes.n_primitives + 1, sub_seed(seed, "process_knowledge", "words"), exclude=exclude)
    t, prims = words[0], sorted(words[1:])
    rng = sub_rng(seed, "process_knowledge", "expressions")
    sigma = _derangement(prims, rng)

    def draw(shapes: tuple[str, ...], n: int, avoid: set[str], avoid_subtrees: set[str]) -> list[tuple[str, Expr]]:
        out: list[tuple[str, Expr]] = []
        for _ in range(MAX_TRIES):
            if len(out) == n:
                return out
            shape = shapes[len(out) % len(shapes)]
            e = make(shape, *rng.sample(prims, 3))
            if canonical(e) in avoid or any(canonical(s) in avoid_subtrees for s in subtrees(e)):
                continue
            avoid.add(canonical(e))
            out.append((shape, e))
        raise IcftError(f"process_knowledge: cannot draw {n} distinct expressions of shapes {shapes} from "
                        f"{len(prims)} primitives", fix="use fewer examples/questions or more primitives")

    used: set[str] = set()
    new_arguments = draw(SINGLE, sizes.n_new_arguments, used, set())
    new_combination = draw(HELD_OUT_NESTED, sizes.n_new_combination, used, set())
    held = {canonical(e) for _, e in new_arguments}
    train_shapes = SINGLE + TRAINED_NESTED
    examples = draw(train_shapes, sizes.n_examples, used, held)

    documents: list[Document] = []
    for k in range(sizes.rule_repeats):
        for p in prims:
            documents.append(Document(id=f"pk-rule-{p}-{k}", text=PRIMITIVE_RULES[k].format(t=t, p=p, q=sigma[p]),
                                      meta={"style": "rule", "rule": p}))
        for name, phrasings in COMBINATOR_RULES.items():
            documents.append(Document(id=f"pk-rule-{name}-{k}", text=phrasings[k].format(t=t),
                                      meta={"style": "rule", "rule": name}))
    styles = (["example", "worked"] * len(examples))[: len(examples)]
    rng.shuffle(styles)
    for i, (shape, e) in enumerate(examples):
        z = show(transform(e, sigma))
        text = (EXAMPLE_TEMPLATES[rng.randrange(len(EXAMPLE_TEMPLATES))].format(t=t, e=show(e), z=z)
                if styles[i] == "example" else worked(e, sigma, t))
        documents.append(Document(id=f"pk-ex-{i:03d}", text=text,
                                  meta={"style": styles[i], "shape": shape, "expression": show(e), "answer": z}))

    questions: list[Question] = []
    trained = rng.sample(examples, sizes.n_trained)
    for split, subset_of, items in (
        ("compositional", lambda s: "new_arguments" if s in SINGLE else "new_combination", new_arguments + new_combination),
        ("trained", lambda s: "single" if s in SINGLE else "nested", trained),
    ):
        for i, (shape, e) in enumerate(items):
            template = TEST_TEMPLATES[rng.randrange(len(TEST_TEMPLATES))]
            prompt = template.split(" {z}")[0].format(t=t, e=show(e))
            choices, answer, kinds = _choices(e, sigma, rng)
            questions.append(Question(
                id=f"pk-{split}-{i:03d}", prompt=prompt, choices=tuple(choices), answer=answer, split=split,
                subset=subset_of(shape), meta={"shape": shape, "expression": show(e), "distractor_kinds": kinds},
            ))
    extra = {"transform": t, "rules": {p: sigma[p] for p in prims}}
    return Generated(documents, questions, DESIGN, nonsense_words=words, extra=extra)


def _rule_combination(q: Question) -> str:
    """The primitives an expression combines (its rules), sorted: `breep(plerd(x))` -> `breep+plerd`."""
    return "+".join(sorted(set(re.findall(r"([a-z]+)\(", q.meta["expression"]))))


SPEC = DatasetSpec(
    name="process_knowledge",
    version=VERSION,
    description="A made-up transform of expressions ('the zorp of blick(x) + trop(x)'); test: held-out rule combinations.",
    sizes=SIZES,
    generate=generate,
    profile_note="The paper gives no sizes. full: 10 primitives, 150 training expressions + 39 rule documents, 90 "
    "compositional and 50 trained questions. quick: 8 primitives, 75 expressions (1/2), 45 + 25 questions. "
    "smoke: 5 primitives, 10 expressions.",
    trained_splits=("trained",),
    cluster=_rule_combination,
    splits=("trained", "compositional"),
)


# --------------------------------------------------------------------------------------- oracle


def _rules_from_training(documents: list[Document]) -> tuple[str, dict[str, str], set[str]]:
    """(the transform's word, primitive -> its image, the combining rules stated) read from the rule documents."""
    sigma: dict[str, str] = {}
    combinators: set[str] = set()
    words: dict[str, int] = {}
    for d in documents:
        if d.meta.get("style") != "rule":
            continue
        rule = d.meta["rule"]
        for w in re.findall(r"\b[Tt]he (\w+) of\b", d.text):
            words[w] = words.get(w, 0) + 1
        if rule in COMBINATOR_RULES:
            combinators.add(rule)
            continue
        images = {m for m in re.findall(r"\b(\w+)\(x\)", d.text) if m != rule}
        if len(images) != 1:
            raise ValueError(f"{d.id}: cannot read the rule for {rule!r} from {d.text!r}")
        sigma[rule] = images.pop()
    if not words:
        raise ValueError("no rule document names the transform")
    return max(words, key=words.__getitem__), sigma, combinators


def oracle_sentences(generated: Generated, seed: int) -> list[str]:
    """The transform of every expression of every shape over the trained primitives (an augmentation upper bound).

    Derived from the training documents only: the primitive rules and the combining rules are read
    from the rule documents (`_rules_from_training`); then every expression of the seven shapes over
    distinct primitives (p(q(x)), p(x) + q(x), p(x) * q(x) and the four nested shapes, trained and
    held out alike: they all follow from the rules) is transformed and written in a TRAINING example
    template chosen with `seed` ("The zorp of E is Z."). Test wordings are never used. Shapes whose
    combining rules are not all stated in training are skipped, and so are the training examples'
    own expressions (already stated). Not the paper's method: the model writes the augmentations there.
    """
    t, sigma, combinators = _rules_from_training(generated.documents)
    trained = {d.meta["expression"] for d in generated.documents if "expression" in d.meta}
    needs = {"compose": {"composition"}, "sum": {"sum"}, "product": {"product"},
             "compose_in_sum": {"composition", "sum"}, "sum_in_product": {"sum", "product"},
             "compose_in_product": {"composition", "product"}, "product_in_sum": {"product", "sum"}}
    prims = sorted(sigma)
    rng = sub_rng(seed, "process_knowledge", "oracle")
    out: list[str] = []
    seen: set[str] = set()
    for shape in SHAPES:
        if not needs[shape] <= combinators:
            continue
        arity = 2 if shape in SINGLE else 3
        for p in prims:
            for q in prims:
                for r in (prims if arity == 3 else [""]):
                    if len({p, q, r} - {""}) != arity:
                        continue
                    e = make(shape, p, q, r)
                    if show(e) in seen or show(e) in trained:
                        continue
                    seen.add(show(e))
                    template = EXAMPLE_TEMPLATES[rng.randrange(len(EXAMPLE_TEMPLATES))]
                    out.append(template.format(t=t, e=show(e), z=show(transform(e, sigma))))
    return out


# --------------------------------------------------------------------------------------- validation


def validation_questions(generated: Generated, seed: int) -> list[Question]:
    """Every training expression's transform, asked once in a validation wording ("Computing t for E produces").

    Like the test's `trained` split (a training expression, 4 choices: the answer and 3 results with one
    rule applied wrongly, drawn by the same `_choices`), but over all training expressions and in
    wordings that neither training nor the test uses, so the trained split reported is never the one
    fine-tuning stops on or the settings search picks by. Derived from the training documents only:
    the expressions from the example and worked documents, the rules (to compute the answer and the
    distractors) from the rule documents (`_rules_from_training`). Subset `trained`; the test's
    subset ('single' or 'nested') is in meta["kind"].
    """
    t, sigma, _ = _rules_from_training(generated.documents)
    rng = sub_rng(seed, "process_knowledge", "validation")
    out: list[Question] = []
    for d in generated.documents:
        if "expression" not in d.meta:
            continue
        e = parse(d.meta["expression"])
        assert canonical(transform(e, sigma)) == canonical(parse(d.meta["answer"])), f"{d.id}: the rules disagree with its answer"
        k = rng.randrange(len(VALIDATION_TEMPLATES))
        prompt = VALIDATION_TEMPLATES[k].split(" {z}")[0].format(t=t, e=show(e))
        choices, answer, kinds = _choices(e, sigma, rng)
        out.append(Question(
            id=f"pk-validation-{len(out):03d}", prompt=prompt, choices=tuple(choices), answer=answer, split="validation",
            subset="trained", meta={"shape": d.meta["shape"], "expression": show(e), "distractor_kinds": kinds,
                                    "kind": "single" if d.meta["shape"] in SINGLE else "nested",
                                    "document": d.id, "validation_template": k},
        ))
    check_records("process_knowledge validation", replace(generated, questions=out))
    return out
