"""The fine-tuning loop: examples, loss masks, the selective output layer, learning, determinism,
batching, saving, data parallel, config errors. Tiny models only (the whole file runs in about a minute)."""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from icft.errors import IcftError
from icft.finetune import (
    Example,
    FinetuneConfig,
    _collate,
    _prepare_model,
    finetune,
    length_grouped_batches,
    make_examples,
    steps_for_tokens,
    tokenize_example,
)
from icft.lm_head import selective_ce
from icft.text import split_sentences
from icft.adapters import load_adapter, save_adapter
from icft.records import Document, Question
from icft.scoring import score

THREE = Document("d3", "Glorbs are heavier than frints. The brub of f(x). is odd! Is it 3.5 m. or more? Yes.")
FACTS = [("Glorbs", "heavier", "frints"), ("Snaps", "brighter", "drooms"), ("Plenks", "louder", "vashes"), ("Trubs", "older", "kelms")]
FACT_DOCS = [Document(f"f{i}", f"{a} are {r} than {b}.") for i, (a, r, b) in enumerate(FACTS)]
MIXED_DOCS = [
    Document("m0", "Glorbs are heavier than frints."),
    Document("m1", "Snaps are brighter than drooms, and everyone who has met a snap agrees on that."),
    Document("m2", "Plenks are louder than vashes."),
    Document("m3", "Trubs are older than kelms. Kelms are younger than trubs."),
    Document("m4", "Did you know that zorps are faster than blicks?"),
]


def _fresh(fixture):
    model, tok = fixture
    return copy.deepcopy(model), tok


# ------------------------------------------------------------------------------------ examples


def test_sentence_splitter():
    assert split_sentences(THREE.text) == ["Glorbs are heavier than frints.", "The brub of f(x). is odd!", "Is it 3.5 m. or more?", "Yes."]
    assert split_sentences("The brub of f(x). The tralk of g(x) is h(x).") == ["The brub of f(x).", "The tralk of g(x) is h(x)."]
    assert split_sentences('Dr. Smith met J. K. Rowling, e.g. Twice. She said "Hi." (Then 2 left.)') == [
        "Dr. Smith met J. K. Rowling, e.g. Twice.", 'She said "Hi."', "(Then 2 left.)"]
    assert split_sentences("  One sentence without an end  ") == ["One sentence without an end"]


def test_make_examples_counts_and_cumulative_prompts():
    doc = Document("a", "Glorbs are heavier than frints. Frints are lighter than glorbs. Snaps are brighter than drooms.")
    other = Document("b", "Trubs are older than kelms.")
    assert [e.completion for e in make_examples([doc, other], "none")] == [doc.text, other.text]
    ind = make_examples([doc, other], "independent")
    cum = make_examples([doc, other], "cumulative")
    assert len(ind) == len(cum) == 4
    assert [e.completion for e in ind] == [e.completion for e in cum]
    assert all(e.prompt == "" for e in ind)
    assert [e.prompt for e in cum] == ["", "Glorbs are heavier than frints. ", "Glorbs are heavier than frints. Frints are lighter than glorbs. ", ""]
    assert all(e.mask_prompt for e in cum) and not any(e.mask_prompt for e in ind)
    assert [e.doc_id for e in cum] == ["a", "a", "a", "b"]
    # a prompt/completion document (reversal-curse style) keeps its parts without splitting
    pc = Document("p", "Who is glon? Glon is the inventor.", meta={"prompt": "Who is glon?", "completion": " Glon is the inventor."})
    assert make_examples([pc], "none") == [Example("Who is glon?", " Glon is the inventor.", "p")]


def test_loss_masks(tiny_gemma, tiny_smollm2):
    (_, gtok), (_, stok) = tiny_gemma, tiny_smollm2
    cum = make_examples([THREE], "cumulative")[2]
    for tok in (gtok, stok):
        t = tokenize_example(tok, cum, loss_on="all")  # cumulative: the prompt never gets loss
        n_prompt = len(tok(cum.prompt.rstrip(), add_special_tokens=False).input_ids)
        has_bos = tok("a").input_ids[0] == tok.bos_token_id
        assert t.ids[-1] == tok.eos_token_id and t.loss_mask[-1]  # EOS ends every example and gets loss
        assert not any(t.loss_mask[: int(has_bos) + n_prompt])
        assert all(t.loss_mask[int(has_bos) + n_prompt :])
        assert tok.decode(t.ids[int(has_bos) + n_prompt : -1]).strip() == cum.completion
        ind = tokenize_example(tok, Example("", "Glorbs are heavy.", "x"), "all")
        assert not ind.loss_mask[0] and all(ind.loss_mask[1:])  # the first token (BOS or not) is never predicted
    assert tokenize_example(gtok, cum, "all").ids[0] == gtok.bos_token_id
    pc = Example("Who is glon?", " Glon is the inventor.", "p")
    n_prompt = len(gtok("Who is glon?", add_special_tokens=False).input_ids)
    assert sum(tokenize_example(gtok, pc, "completion").loss_mask) == len(tokenize_example(gtok, pc, "all").ids) - 1 - n_prompt  # BOS and prompt: no loss
    assert sum(tokenize_example(gtok, pc, "all").loss_mask) == len(tokenize_example(gtok, pc, "all").ids) - 1


def _batch_with_labels(rows):
    """A collated batch, and the labels (-100 where no loss) and loss mask a full `model(..., labels=)` takes."""
    batch = _collate(rows, pad_id=0, device=torch.device("cpu"))
    labels = batch["input_ids"].clone()
    mask = torch.zeros_like(labels, dtype=torch.bool)
    for b, r in enumerate(rows):
        mask[b, : len(r.ids)] = torch.tensor(r.loss_mask)
    labels[~mask] = -100
    return batch, labels, mask


@pytest.mark.parametrize("fixture,softcap", [("tiny_gemma", None), ("tiny_gemma", 5.0), ("tiny_smollm2", None)])
def test_selective_logits_equal_full_loss(request, fixture, softcap):
    model, tok = _fresh(request.getfixturevalue(fixture))
    if softcap:
        model.config.final_logit_softcapping = softcap  # Gemma 2 style; the HF forward applies it too
    examples = make_examples([THREE], "cumulative") + make_examples(MIXED_DOCS, "none")
    rows = [tokenize_example(tok, e, "all") for e in examples]
    batch, labels, mask = _batch_with_labels(rows)
    with torch.no_grad():
        ours = selective_ce(model, **batch) / mask.sum()
        full = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels).loss
    assert batch["input_ids"].shape[1] > 16  # longer than tiny Gemma's sliding window
    assert abs(float(ours) - float(full)) < 1e-5


@pytest.mark.parametrize("fixture,softcap,method", [("tiny_gemma", 5.0, "lora"), ("tiny_gemma", None, "full"), ("tiny_smollm2", None, "full")])
def test_chunked_loss_gradients_equal_autograd(request, fixture, softcap, method):
    """The loss computes its gradients piece by piece in the forward pass: they must be autograd's,
    for LoRA (frozen output layer) and full FT (the tied output layer/embeddings trains too)."""
    model, tok = _fresh(request.getfixturevalue(fixture))
    if softcap:
        model.config.final_logit_softcapping = softcap
    model = _prepare_model(model, FinetuneConfig(method=method))
    rows = [tokenize_example(tok, e, "all") for e in make_examples(MIXED_DOCS + [THREE], "none")]
    batch, labels, mask = _batch_with_labels(rows)
    params = [p for p in model.parameters() if p.requires_grad]

    def grads(loss_fn):
        model.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        return float(loss.detach()), [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in params]

    n = len(batch["rows"])
    ref_loss, ref = grads(lambda: model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels).loss * mask.sum())
    for chunk in (7, n + 1):  # several pieces, then one
        loss, got = grads(lambda: selective_ce(model, **batch, chunk=chunk))
        assert loss == pytest.approx(ref_loss, rel=1e-5)
        scale = max(float(g.abs().max()) for g in ref)
        assert scale > 0
        assert max(float((a - b).abs().max()) for a, b in zip(got, ref)) < 1e-4 * scale


# ------------------------------------------------------------------------------------ training


def test_training_memorises_and_scoring_sees_it(tiny_smollm2):
    model, tok = _fresh(tiny_smollm2)
    questions = [
        Question(f"q{i}", f"{a} are {r} than", [f" {b}.", f" {FACTS[(i + 1) % 4][2]}."], answer=0) for i, (a, r, b) in enumerate(FACTS)
    ]
    before = score(model, tok, questions, progress=False)
    cfg = FinetuneConfig(method="full", lr=3e-2, steps=20, batch_size=4, warmup_steps=2)
    model, log = finetune(model, tok, FACT_DOCS, cfg, progress=False)
    assert not model.training
    assert log.steps == len(log.losses) == len(log.lrs) == 20
    assert log.losses[-1] < 0.3 * log.losses[0]
    after = score(model, tok, questions, progress=False)
    margins = [q.logprob[0] - q.logprob[1] for q in after.questions]
    assert after.accuracy == 1.0, margins  # every trained object beats another fact's object
    assert sum(margins) > sum(q.logprob[0] - q.logprob[1] for q in before.questions) + 4
    assert log.tokens_per_s > 0 and log.flops > 0 and log.config["method"] == "full"
    assert max(log.lrs) == pytest.approx(3e-2) and log.lrs[0] < log.lrs[1] and log.lrs[-1] < 0.05 * 3e-2


def test_validation_checks_and_the_stopping_rule(tiny_smollm2):
    """The monitor runs every eval_every steps (model in eval mode, no gradients) and after the last
    step; stop_at ends training at the first check that reaches it, and the log says where."""
    seen = []

    def monitor(model):
        seen.append((model.training, torch.is_grad_enabled()))
        return [0.5, 0.7, 0.9, 1.0][min(len(seen) - 1, 3)]

    cfg = FinetuneConfig(method="full", lr=1e-2, steps=10, batch_size=2, warmup_steps=1, eval_every=4)
    _, log = finetune(_fresh(tiny_smollm2)[0], tiny_smollm2[1], FACT_DOCS, cfg, progress=False, monitor=monitor)
    assert [e["step"] for e in log.evals] == [4, 8, 10] and log.steps == log.max_steps == 10 and not log.stopped_early
    assert seen == [(False, False)] * 3 and [e["accuracy"] for e in log.evals] == [0.5, 0.7, 0.9]
    assert log.evals[0]["tokens"] < log.evals[1]["tokens"] < log.evals[2]["tokens"] == log.tokens
    seen.clear()
    cfg = FinetuneConfig(**{**cfg.to_dict(), "eval_every": 2, "stop_at": 0.9})
    model, log = finetune(_fresh(tiny_smollm2)[0], tiny_smollm2[1], FACT_DOCS, cfg, progress=False, monitor=monitor)
    assert [e["step"] for e in log.evals] == [2, 4, 6] and log.steps == len(log.losses) == 6 and log.stopped_early
    assert log.max_steps == 10 and not model.training and log.eval_seconds > 0
    with pytest.raises(IcftError, match="no monitor"):
        finetune(_fresh(tiny_smollm2)[0], tiny_smollm2[1], FACT_DOCS, cfg, progress=False)


def test_the_stopping_rule_waits_for_its_epochs(tiny_smollm2):
    """A check at the target before `stop_after_epochs` passes is kept but stops nothing: every example
    is trained on before the rule may end a run (augmented FT reads its added sentences)."""
    epoch = -(-len(FACT_DOCS) // 2)
    assert epoch >= 2  # else the test could not tell an early stop from a late one
    cfg = FinetuneConfig(method="full", lr=1e-2, steps=4 * epoch, batch_size=2, warmup_steps=1, eval_every=1,
                         stop_at=0.5, stop_after_epochs=2)
    assert cfg.first_stop(len(FACT_DOCS)) == 2 * epoch
    _, log = finetune(_fresh(tiny_smollm2)[0], tiny_smollm2[1], FACT_DOCS, cfg, progress=False, monitor=lambda m: 1.0)
    assert [e["step"] for e in log.evals] == list(range(1, 2 * epoch + 1)) and log.steps == 2 * epoch and log.stopped_early
    late = FinetuneConfig(**{**cfg.to_dict(), "stop_after_epochs": 10})
    assert late.first_stop(len(FACT_DOCS)) == late.total_steps(len(FACT_DOCS)) == 4 * epoch  # never past the budget


def test_a_token_budget_trains_the_same_tokens_whatever_the_split(tiny_smollm2):
    """`token_epochs`: a run stops at the first step whose batches hold the budget's loss tokens (E passes
    over the documents unsplit), so a split, whose examples are smaller, takes more steps for the same
    tokens; unsplit, E passes are E whole epochs."""
    model, tok = tiny_smollm2
    docs = MIXED_DOCS + [THREE]
    whole = sum(tokenize_example(tok, ex).n_loss for ex in make_examples(docs, "none"))
    logs = {}
    for split in ("none", "independent", "cumulative"):
        cfg = FinetuneConfig(method="full", lr=1e-3, batch_size=2, warmup_steps=0, split=split, token_epochs=2)
        _, logs[split] = finetune(_fresh(tiny_smollm2)[0], tok, docs, cfg, progress=False)
        data = [tokenize_example(tok, ex) for ex in make_examples(docs, split)]
        assert logs[split].loss_tokens >= 2 * whole  # the budget is reached ...
        fewer = steps_for_tokens([len(t.ids) for t in data], [t.n_loss for t in data], 2, 0, 2 * whole) - 1
        batches = length_grouped_batches([len(t.ids) for t in data], 2, __import__("random").Random(0))
        assert sum(data[i].n_loss for _ in range(fewer) for i in next(batches)) < 2 * whole  # ... at its first step
        assert logs[split].max_steps == logs[split].steps == fewer + 1
    assert logs["none"].steps == 2 * -(-len(docs) // 2)  # E whole epochs
    assert logs["independent"].steps > logs["none"].steps
    assert "token_epochs" not in FinetuneConfig().to_dict()  # runs without it read as the records made before it
    with pytest.raises(IcftError, match="token_epochs must be a positive number"):
        FinetuneConfig(token_epochs=0)


def test_body_finetuning_leaves_the_vocabulary_matrices(tiny_gemma):
    """`body`: every weight trains but the input embeddings and the (tied) output layer."""
    model, tok = _fresh(tiny_gemma)
    embed = model.get_input_embeddings().weight.detach().clone()
    layer = next(p for n, p in model.named_parameters() if "layers.0" in n and p.ndim == 2)
    before = layer.detach().clone()
    model, log = finetune(model, tok, FACT_DOCS, FinetuneConfig(method="body", lr=1e-2, steps=3, batch_size=2, warmup_steps=0),
                          progress=False)
    assert torch.equal(model.get_input_embeddings().weight, embed) and not model.get_output_embeddings().weight.requires_grad
    assert not torch.equal(layer, before)
    assert log.trainable_params == sum(p.numel() for p in model.parameters() if p.requires_grad) > 0


def test_same_seed_same_losses(tiny_smollm2):
    cfg = FinetuneConfig(lr=1e-2, steps=6, batch_size=2, warmup_steps=1, split="independent", lora_dropout=0.1, seed=3)
    runs = [finetune(_fresh(tiny_smollm2)[0], tiny_smollm2[1], MIXED_DOCS, cfg, progress=False)[1].losses for _ in range(2)]
    assert runs[0] == runs[1]
    other = finetune(_fresh(tiny_smollm2)[0], tiny_smollm2[1], MIXED_DOCS, FinetuneConfig(**{**cfg.to_dict(), "seed": 4}), progress=False)
    assert other[1].losses != runs[0]


def test_length_grouping_keeps_padding_small():
    import random

    rng = random.Random(0)
    lengths = [rng.choice([8, 9, 10, 20, 22, 25, 60, 64, 70, 150]) + rng.randrange(5) for _ in range(400)]
    bs, seen = 8, []
    batches = length_grouped_batches(lengths, bs, random.Random(1))
    padded = real = 0
    for _ in range(2 * 50):  # two epochs
        batch = next(batches)
        seen.extend(batch)
        width = max(lengths[i] for i in batch)
        padded += sum(width - lengths[i] for i in batch)
        real += sum(lengths[i] for i in batch)
    assert sorted(seen[:400]) == sorted(seen[400:]) == list(range(400))  # each epoch sees every example once
    assert seen[:400] != seen[400:]
    assert padded / (padded + real) < 0.1


def test_train_log_padding_fraction(tiny_smollm2):
    docs = [Document(f"x{i}", " ".join(["Glorbs are heavier than frints."] * (1 + i % 5))) for i in range(40)]
    _, log = finetune(_fresh(tiny_smollm2)[0], tiny_smollm2[1], docs, FinetuneConfig(steps=5, batch_size=8, epochs=1.0), progress=False)
    assert log.steps == 5 and log.epochs == 1.0
    assert log.padding_fraction < 0.25
    assert log.tokens == sum(len(tokenize_example(tiny_smollm2[1], e).ids) for e in make_examples(docs))


def test_save_load_adapter_round_trip(tiny_gemma, tmp_path):
    model, tok = _fresh(tiny_gemma)
    model, _ = finetune(model, tok, MIXED_DOCS, FinetuneConfig(lr=1e-2, steps=3, batch_size=4, lora_r=4), progress=False)
    folder = save_adapter(model, tmp_path / "adapter")
    files = sorted(p.name for p in folder.iterdir())
    assert any(f.endswith(".safetensors") for f in files) and not any(f.endswith(".bin") for f in files), files
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    save_adapter(model, folder)  # overwriting works
    loaded = load_adapter(_fresh(tiny_gemma)[0], folder)
    ids = torch.tensor([tok("Glorbs are heavier than frints.").input_ids])
    with torch.no_grad():
        a, b = model(input_ids=ids).logits, loaded(input_ids=ids).logits
        base = tiny_gemma[0](input_ids=ids).logits
    assert torch.equal(a, b)
    assert not torch.equal(a, base)  # the adapter changed something


def test_save_load_full_model(tiny_smollm2, tmp_path):
    model, tok = _fresh(tiny_smollm2)
    model, _ = finetune(model, tok, FACT_DOCS, FinetuneConfig(method="full", lr=1e-2, steps=2, batch_size=4), progress=False)
    folder = save_adapter(model, tmp_path / "full")
    assert not list(folder.glob("*.bin")) and list(folder.glob("*.safetensors"))
    loaded = load_adapter(tiny_smollm2[0], folder)
    ids = torch.tensor([tok("Glorbs are heavier than frints.").input_ids])
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, loaded(input_ids=ids).logits)


# ------------------------------------------------------------------------------------ data parallel

DDP_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import torch
    from safetensors.torch import save_file
    from icft.finetune import FinetuneConfig, finetune
    from icft.models import load_model
    from icft.records import Document

    out = sys.argv[1]
    spec = json.load(open(os.path.join(out, "spec.json")))
    model, tok = load_model("tiny-smollm2", device="cpu")
    docs = [Document.from_dict(d) for d in spec["docs"]]
    model, log = finetune(model, tok, docs, FinetuneConfig(**spec["config"]), progress=False)
    if int(os.environ.get("RANK", "0")) == 0:
        weights = {n: p.detach().contiguous() for n, p in model.named_parameters() if p.requires_grad}
        save_file(weights, os.path.join(out, "weights.safetensors"))
        json.dump({"losses": log.losses, "world_size": log.world_size, "tokens": log.tokens}, open(os.path.join(out, "log.json"), "w"))
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_like_one(tiny_smollm2, tmp_path):
    # 5 documents, batch 4: every other step is a 1-row batch, so process 1 has nothing of its own
    config = FinetuneConfig(lr=3e-2, steps=5, batch_size=4, warmup_steps=1, lora_r=4, precision="fp32")  # fp32: compared to 1e-4
    # the two processes also accumulate over 1-row micro-batches (DDP all-reduces after the last only)
    two_config = {**config.to_dict(), "micro_batch_size": 1}
    (tmp_path / "spec.json").write_text(json.dumps({"docs": [d.to_dict() for d in MIXED_DOCS], "config": two_config}))
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    # CPU processes (gloo) even where there is a GPU: two processes cannot share one GPU with NCCL
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()), str(script), str(tmp_path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    two = json.loads((tmp_path / "log.json").read_text())
    assert two["world_size"] == 2

    model, one = finetune(_fresh(tiny_smollm2)[0], tiny_smollm2[1], MIXED_DOCS, config, progress=False)
    assert one.world_size == 1 and one.tokens == two["tokens"]
    for a, b in zip(one.losses, two["losses"], strict=True):
        assert abs(a - b) <= 1e-4 * abs(a)
    theirs = load_file(tmp_path / "weights.safetensors")
    ours = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    assert ours.keys() == theirs.keys()
    assert max(float((ours[n] - theirs[n]).abs().max()) for n in ours) < 1e-4
    assert max(float(p.abs().max()) for n, p in ours.items() if "lora_B" in n) > 1e-2  # the weights did move


def test_micro_batches_train_like_whole_batches(tiny_smollm2):
    """Gradient accumulation over micro-batches takes the same steps as one forward per batch."""
    runs = []
    for micro in (None, 2):
        model, tok = _fresh(tiny_smollm2)
        cfg = FinetuneConfig(lr=1e-2, steps=6, batch_size=5, warmup_steps=1, split="independent", micro_batch_size=micro,
                             precision="fp32")
        model, log = finetune(model, tok, MIXED_DOCS, cfg, progress=False)
        runs.append((log.losses, {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}))
    (losses, weights), (micro_losses, micro_weights) = runs
    assert micro_losses == pytest.approx(losses, rel=1e-5)
    assert max(float((weights[n] - micro_weights[n]).abs().max()) for n in weights) < 1e-5
    assert max(float(p.abs().max()) for n, p in weights.items() if "lora_B" in n) > 1e-3  # the weights did move


def test_bf16_base_trains_like_fp32_and_is_put_back(tiny_smollm2):
    """precision="bf16": the frozen base runs in bf16 while training, the adapters stay fp32, and
    afterwards the base holds its original fp32 weights, bit for bit."""
    runs = {}
    for precision in ("fp32", "bf16"):
        model, tok = _fresh(tiny_smollm2)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        cfg = FinetuneConfig(lr=1e-2, steps=6, batch_size=4, warmup_steps=1, split="independent", precision=precision)
        model, log = finetune(model, tok, MIXED_DOCS, cfg, progress=False)
        assert log.base_dtype == {"fp32": "float32", "bf16": "bfloat16"}[precision]
        assert all(p.dtype == torch.float32 for p in model.parameters())
        base = {n.replace("base_model.model.", "").replace(".base_layer", ""): p for n, p in model.named_parameters() if "lora_" not in n}
        assert base.keys() == before.keys() and all(torch.equal(base[n], before[n]) for n in before)
        runs[precision] = log.losses
    assert runs["bf16"] == pytest.approx(runs["fp32"], rel=0.05)
    assert runs["bf16"] != runs["fp32"]  # it did run in bf16


# ------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "bad",
    [
        dict(method="qlora"), dict(schedule="linear"), dict(split="paragraph"), dict(loss_on="prompt"), dict(lr=0.0),
        dict(lr=-1e-4), dict(steps=0), dict(batch_size=0), dict(batch_size=2.5), dict(epochs=0), dict(warmup_steps=-1),
        dict(max_grad_norm=-1.0), dict(lora_dropout=1.0), dict(max_length=0), dict(micro_batch_size=0),
        dict(micro_batch_size=2.0), dict(precision="fp16"), dict(eval_every=-1), dict(eval_questions=0),
        dict(stop_at=0.95), dict(stop_at=1.5, eval_every=5), dict(stop_after_epochs=-1), dict(stop_after_epochs=True),
    ],
)
def test_bad_configs_raise(bad):
    with pytest.raises(IcftError, match="fine-tuning config") as e:
        FinetuneConfig(**bad)
    assert e.value.fix


def test_bad_inputs_raise(tiny_smollm2):
    model, tok = tiny_smollm2
    with pytest.raises(IcftError, match="no documents"):
        finetune(model, tok, [], FinetuneConfig(steps=1), progress=False)
    with pytest.raises(IcftError, match="empty text"):
        finetune(model, tok, [Document("e", "  ")], FinetuneConfig(steps=1), progress=False)
    with pytest.raises(IcftError, match="'long'.*max_length=8"):
        finetune(model, tok, [Document("long", "Glorbs are heavier than frints. " * 5)], FinetuneConfig(steps=1, max_length=8), progress=False)
    assert not any(p.requires_grad and "lora" in n for n, p in model.named_parameters())  # the fixture was not touched
