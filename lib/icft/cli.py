"""The `icft` command line.

    icft models list                     names, and whether each is in the cache
    icft models prepare NAME [NAME...]   convert embedded models into the safetensors cache
    icft models clear NAME               remove a model's cache (rebuilt on the next load)
    icft data list                       the data sets, their options and sizes per profile
    icft data build NAME [--profile P --seed N --out DIR]   write train.jsonl, test.jsonl, card.json
    icft data show NAME [--profile P --seed N -n 3]         print example documents and questions
    icft run DATASET --method M [--profile P --model M --seed N --set finetune.steps=100 ...]
                                         run one condition, write its record under results/runs/
    icft plan NOTEBOOK|all [--missing]   the `icft run` commands of a notebook's conditions
    icft records status [--list --prune] which records of the plan are current, stale (why) or missing
    icft verify [NAME...] [--n 3 | --figure fig3]   re-derive shipped records and compare

Errors the user can fix print one message and exit with code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from .errors import IcftError
from .profiles import DEFAULT_MODEL, DEFAULT_PROFILE, DEFAULT_SEEDS


def _models_list(args: argparse.Namespace) -> int:
    from . import models
    from .labels import weights

    width = max(map(len, models.model_names()))
    for name in models.model_names():
        spec = models.EMBEDDED.get(name) or models.TINY[name]
        where = models.cached_model_dir(name)
        state = "cached" if (where / models.MANIFEST).is_file() else "not converted yet"
        # the identity every record's key holds (an embedded model's: its GGUF file's sha256); the weights
        # are the pinned counts of an embedded model, nothing converted (a tiny one's once it is built)
        size = "" if name in models.TINY and state != "cached" else weights(models.parameter_counts(name)[0])
        print(f"{name:{width}s} {state:18s} {size:>5s}  sha256 {models.model_sha256(name)[:12]}  {spec.description}")
    return 0


def _models_prepare(args: argparse.Namespace) -> int:
    from . import models

    for name in args.names:
        path = models.prepare(name, force=args.force)
        print(f"{name}: {path}")
    return 0


def _models_clear(args: argparse.Namespace) -> int:
    from . import models

    for name in args.names:
        if name not in models.model_names():
            raise IcftError(f"unknown model name {name!r}", fix=f"use one of {', '.join(models.model_names())}")
        path = models.cached_model_dir(name)
        shutil.rmtree(path, ignore_errors=True)
        print(f"removed {path}")
    return 0


def _data_list(args: argparse.Namespace) -> int:
    from . import datasets

    for name in datasets.names():
        s = datasets.spec(name)
        print(f"{name} (v{s.version}): {s.description}")
        if s.options:
            print(f"  options: {', '.join('--' + o.replace('_', '-') for o in s.options)}")
        for profile in datasets.PROFILES:
            sizes = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(s.sizes[profile]).items())
            print(f"  {profile:6s} {sizes}")
    return 0


def _parse_sizes(items: list[str]) -> dict[str, int]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            out[key.strip()] = int(value)
        except ValueError:
            sep = ""
        if not sep:
            raise IcftError(f"--size {item!r} is not KEY=INTEGER", fix="write it like --size n_facts=40 (see `icft data list`)")
    return out


def _data_options(args: argparse.Namespace) -> dict[str, Any]:
    """Generator options and size overrides from the command line; RC_DATA applies to reversal_curse only."""
    from . import datasets

    options = datasets.spec(args.name).options
    for flag, given in (("rc_data", args.rc_data), ("nonsense_names", args.nonsense_names)):
        if given and flag not in options:
            raise IcftError(f"--{flag.replace('_', '-')} does not apply to {args.name}", fix="use it with reversal_curse only")
    opts: dict[str, Any] = _parse_sizes(args.size)
    rc_data = args.rc_data or (os.environ.get("RC_DATA") if args.name == "reversal_curse" else None)
    if rc_data:
        opts["rc_data"] = rc_data
    if args.nonsense_names:
        opts["nonsense_names"] = True
    return opts


def _data_build(args: argparse.Namespace) -> int:
    from . import datasets
    from .words import default_tokenizer

    opts = _data_options(args)
    datasets.generate(args.name, args.profile, args.seed, **opts)  # validate before loading a tokenizer
    tokenizer, tok_name = None, None
    if not args.no_tokenizer_stats:
        tokenizer, tok_name = default_tokenizer()
        if tokenizer is None:
            print(f"[icft] no tokens-per-word statistics: {tok_name}", file=sys.stderr)
    out = datasets.build(args.name, args.profile, args.seed, args.out, tokenizer=tokenizer, tokenizer_name=tok_name, **opts)
    card = datasets.load_card(out)
    qs = ", ".join(f"{k} {v}" for k, v in card["counts"]["questions"].items())
    print(f"{out}: {card['counts']['documents']} documents; questions: {qs}")
    return 0


def _data_show(args: argparse.Namespace) -> int:
    from . import datasets

    gen, _, _ = datasets.generate(args.name, args.profile, args.seed, **_data_options(args))
    print(f"{args.name} (profile {args.profile}, seed {args.seed}): {len(gen.documents)} documents, "
          f"{len(gen.questions)} questions")
    by_style: dict[str, list] = defaultdict(list)
    for d in gen.documents:
        by_style[d.meta.get("style", "")].append(d)
    for style, docs in by_style.items():
        print(f"\n== documents, style {style!r} ({len(docs)})")
        for d in docs[: args.n]:
            print(f"  [{d.id}] {d.text}")
    by_split: dict[str, list] = defaultdict(list)
    for q in gen.questions:
        by_split[q.split].append(q)
    for split, qs in by_split.items():
        print(f"\n== questions, split {split!r} ({len(qs)}, chance {sum(q.chance for q in qs) / len(qs):.2f})")
        for q in qs[: args.n]:
            print(f"  [{q.id}] {q.prompt}")
            for i, c in enumerate(q.choices):
                print(f"     {'*' if i == q.answer else ' '} {c!r}")
    return 0


def _parse_settings(items: list[str]) -> dict[str, dict[str, Any]]:
    """--set GROUP.KEY=VALUE (GROUP: data, icl, finetune); VALUE is read as JSON when it parses."""
    import json

    groups: dict[str, dict[str, Any]] = {"data": {}, "icl": {}, "finetune": {}, "augment": {}}
    for item in items:
        key, sep, value = item.partition("=")
        group, dot, name = key.strip().partition(".")
        if not sep or not dot or group not in groups or not name:
            raise IcftError(f"--set {item!r} is not GROUP.KEY=VALUE with GROUP one of data, icl, finetune, augment",
                            fix="write it like --set finetune.steps=300 or --set icl.fraction=0.125")
        try:
            groups[group][name] = json.loads(value)
        except ValueError:
            groups[group][name] = value
    return groups


def _run(args: argparse.Namespace) -> int:
    from . import experiment

    settings = _parse_settings(args.set)
    # The profile's settings (icft.profiles), updated by --set: the same condition a notebook builds.
    condition = experiment.condition(
        args.dataset, args.method, profile=args.profile, model=args.model, seed=args.seed, device=args.device,
        data=settings["data"], icl=settings["icl"], finetune=settings["finetune"], augment=settings["augment"],
    )
    record = experiment.run(condition, force=args.force, progress=not args.quiet)
    print(f"{condition.path()}")
    for split, row in record["accuracy"].items():
        print(f"  {split:20s} {row['accuracy']:6.1%} +- {row['se']:.1%}  (n={row['n']}, chance {row['chance']:.0%})")
    return 0


def _plan(args: argparse.Namespace) -> int:
    from . import plan

    todo = plan.conditions(args.notebook, args.profile, args.model, plan.parse_seeds(args.seeds), rc_data=args.rc_data or None)
    for c in todo:
        if args.missing and c.path().exists():
            continue
        print(plan.command_line(c))
    return 0


def _plan_conditions(args: argparse.Namespace, notebook: str = "all") -> list[Any]:
    from . import plan

    return plan.conditions(notebook, args.profile, args.model, plan.parse_seeds(args.seeds), rc_data=args.rc_data or None)


def _records_status(args: argparse.Namespace) -> int:
    from . import plan, provenance

    st = provenance.status(plan.every_condition(args.profile, args.model, plan.parse_seeds(args.seeds), rc_data=args.rc_data or None))
    print(f"plan: all notebooks (with {', '.join(plan.ON_DEMAND)}, which `make scale` computes), "
          f"profile {args.profile}, model {args.model}, seeds {args.seeds}")
    print(provenance.summary(st))
    if args.list:
        for c, rec in st.current:
            print(f"  current  {c.name}  ({provenance.commit_of(rec)}, {provenance.seconds_of(rec):.0f}s)")
    stale = {c.key: (p, why) for c, p, why in st.stale}
    for c in st.missing:
        if c.key in stale:
            path, why = stale[c.key]
            print(f"  stale    {c.name}: {path.name} ({why})")
        else:
            print(f"  missing  {c.name}")
    current = {c.key for c, _ in st.current}
    for c, path, why in st.stale:
        if c.key in current:  # the condition has its current record: this older one only takes room
            print(f"  superseded {path.name} ({why}; {c.name} is current)")
    for path, problem in st.unreadable:
        print(f"  unusable {path}: {problem}")
    if st.other:
        print(f"  ({st.other} other records under results/runs belong to no condition of this plan)")
    for path, why in st.outdated:
        print(f"  outdated {path.name} ({why}; outside this plan)")
    doomed = [path for _, path, _ in st.stale] + [path for path, _ in st.outdated]
    if args.prune and doomed:
        for path in doomed:
            path.unlink(missing_ok=True)
        print(f"removed {len(doomed)} stale records (git shows them as deleted; commit the re-derived ones)")
    if st.missing:
        print("`icft plan all --missing` (and `icft plan 08_model_scale --missing`) prints their `icft run` commands; "
              "`make paper SHIPPED=1` builds the paper meanwhile from the records there are")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from . import plan, provenance, verify

    if args.figure:
        conditions = plan.notebook_conditions(plan.figure_notebook(args.figure), args.profile, args.model,
                                              plan.parse_seeds(args.seeds), rc_data=args.rc_data or None) or []
    else:
        conditions = _plan_conditions(args)
    st = provenance.status(conditions)
    shipped = [rec for _, rec in st.current]
    if not shipped:
        raise IcftError(f"no current shipped record for {'figure ' + args.figure if args.figure else 'this plan'}",
                        fix="`icft records status` says which records are missing or stale")
    if st.missing:
        print(f"[verify] {len(st.missing)} of the {st.planned} conditions have no current shipped record and are not verified "
              "(`icft records status`)", flush=True)
    if args.names:
        chosen = verify.find(shipped, args.names)
    elif args.figure:
        chosen = shipped
    else:
        chosen = verify.choose(shipped, args.n, args.seed)
    report = verify.run(chosen, scratch=Path(args.scratch) if args.scratch else None, device=args.device)
    print(verify.table(report))
    return 0 if report["ok"] else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="icft", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    m = sub.add_parser("models", help="list, convert or clear models").add_subparsers(dest="action", required=True)
    m.add_parser("list", help="model names and cache state").set_defaults(func=_models_list)
    p = m.add_parser("prepare", help="convert embedded models into the safetensors cache")
    p.add_argument("names", nargs="+")
    p.add_argument("--force", action="store_true", help="rebuild even if cached")
    p.set_defaults(func=_models_prepare)
    c = m.add_parser("clear", help="remove a model's cache")
    c.add_argument("names", nargs="+")
    c.set_defaults(func=_models_clear)

    d = sub.add_parser("data", help="build, list or show the data sets").add_subparsers(dest="action", required=True)
    d.add_parser("list", help="data sets, options and sizes").set_defaults(func=_data_list)
    for action, func, help_ in (("build", _data_build, "write a data set's folder"),
                                ("show", _data_show, "print example documents and questions of each split")):
        p = d.add_parser(action, help=help_)
        p.add_argument("name", help="a data set (see `icft data list`)")
        p.add_argument("--profile", default=DEFAULT_PROFILE, help="smoke, quick or full (default quick)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--rc-data", metavar="DIR", help="reversal_curse: folder of the original Berglund et al. files "
                       "(default $RC_DATA; without it the data set is generated)")
        p.add_argument("--nonsense-names", action="store_true", help="reversal_curse: replace names with nonsense words")
        p.add_argument("--size", action="append", default=[], metavar="KEY=N", help="override one size of the profile")
        if action == "build":
            p.add_argument("--out", metavar="DIR", help="default: results/data/<name>-<profile>-s<seed>")
            p.add_argument("--no-tokenizer-stats", action="store_true",
                           help=f"skip loading the {DEFAULT_MODEL} tokenizer for tokens-per-word statistics")
        else:
            p.add_argument("-n", type=int, default=3, help="examples per style and per split (default 3)")
        p.set_defaults(func=func)

    r = sub.add_parser("run", help="run one condition and write its record")
    r.add_argument("dataset", help="a data set (see `icft data list`)")
    r.add_argument("--method", default="pretrained", help="pretrained, icl, finetune or augmented")
    r.add_argument("--profile", default=DEFAULT_PROFILE)
    r.add_argument("--model", default=DEFAULT_MODEL)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--device", default="auto")
    r.add_argument("--set", action="append", default=[], metavar="GROUP.KEY=VALUE",
                   help="an option of the data set (data.nonsense_names=true), ICL (icl.fraction=0.125), fine-tuning "
                   "(finetune.steps=300) or augmentation (augment.kind=global)")
    r.add_argument("--force", action="store_true", help="rerun even if the record exists")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=_run)

    pl = sub.add_parser("plan", help="print the `icft run` commands a notebook needs (for any scheduler)")
    pl.add_argument("notebook", help="e.g. 01_reversal_curse, or all")
    pl.add_argument("--profile", default=DEFAULT_PROFILE)
    pl.add_argument("--model", default=DEFAULT_MODEL)
    pl.add_argument("--seeds", default=DEFAULT_SEEDS)
    pl.add_argument("--rc-data", metavar="DIR", help="folder of the original Berglund et al. files")
    pl.add_argument("--missing", action="store_true", help="only conditions without a record in results/")
    pl.set_defaults(func=_plan)

    def plan_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--profile", default=DEFAULT_PROFILE)
        p.add_argument("--model", default=DEFAULT_MODEL)
        p.add_argument("--seeds", default=DEFAULT_SEEDS)
        p.add_argument("--rc-data", metavar="DIR", help="folder of the original Berglund et al. files")

    rec = sub.add_parser("records", help="the shipped records of a plan").add_subparsers(dest="action", required=True)
    rs = rec.add_parser("status", help="current, stale (and why) and missing records of every notebook's conditions")
    plan_options(rs)
    rs.add_argument("--list", action="store_true", help="also list the current records")
    rs.add_argument("--prune", action="store_true", help="delete the stale records (never used anyway)")
    rs.set_defaults(func=_records_status)

    v = sub.add_parser("verify", help="re-derive shipped records on this machine and compare them")
    v.add_argument("names", nargs="*", help="record names or key prefixes (`icft records status --list`)")
    v.add_argument("--n", type=int, default=3, help="without names: how many conditions to sample (default 3)")
    v.add_argument("--seed", type=int, default=0, help="the sample's seed")
    v.add_argument("--figure", metavar="FIG", help="every condition of one figure (fig2, fig3, fig4, splitting, process, beyond, claims)")
    v.add_argument("--device", default="auto")
    v.add_argument("--scratch", metavar="DIR", help="where the re-derived records go (default build/verify/<time>)")
    plan_options(v)
    v.set_defaults(func=_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # `icft records status | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except IcftError as e:
        print(f"icft: error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:
        if e.filename is None:  # not about a path the user gave: a bug, keep the traceback
            raise
        # a folder that cannot be made or written (--out, ICFT_RESULTS, ICFT_CACHE): say which, no traceback
        err = IcftError(f"cannot use {e.filename}: {e.strerror or e}",
                        fix="check that the path (given with --out, or by ICFT_RESULTS / ICFT_CACHE) is a writable folder")
        print(f"icft: error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
