"""FLOPs: one convention (Kaplan's 2N forward, 2N + 2N backward) for training, generation and scoring,
and a record that states one count per stage."""

from __future__ import annotations

import pytest

from icft import compute


def _sizes(model):
    d, vocab = model.config.hidden_size, model.config.vocab_size
    body = sum(p.numel() for p in model.get_decoder().parameters()) - vocab * d  # less the embeddings
    return body, vocab * d


def test_full_finetuning_counts_the_output_layer_at_loss_tokens_only(tiny_smollm2):
    model, _ = tiny_smollm2
    body, head = _sizes(model)
    assert compute.training(model, 100, 10) == 6 * body * 100 + 6 * head * 10
    assert compute.training(model, 100) == 6 * body * 100 + 6 * head * 100  # every token with loss by default


def test_lora_counts_the_frozen_base_without_weight_gradients(tiny_smollm2):
    import copy

    from peft import LoraConfig, get_peft_model

    model = copy.deepcopy(tiny_smollm2[0])  # the session's model stays as it is
    body, head = _sizes(model)
    lora = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"]))
    adapters = sum(p.numel() for n, p in lora.named_parameters() if "lora_" in n)
    assert adapters > 0
    assert compute.training(lora, 100, 10) == (4 * body + 6 * adapters) * 100 + 4 * head * 10
    # evaluating the trained model runs the adapters too
    assert compute.scoring(lora, 50, 5) == 2 * (body + adapters) * 50 + 2 * head * 5


def test_generation_and_scoring_share_the_forward_count(tiny_gemma):
    model = tiny_gemma[0]
    head = model.get_output_embeddings().weight.numel()
    per_token = compute.generation(model, 1, 0)
    assert compute.generation(model, 10, 5) == pytest.approx(15 * per_token + 2 * head * 5)
    assert compute.scoring(model, 15, 5) == compute.generation(model, 10, 5) == compute.forward(model, 15, 5)


def test_a_record_states_the_training_flops_it_trained_with(smoke_results):
    """One count per run: the record's compute.train_flops is the training log's, loss tokens included
    (the first build's record held a second, tokens-only count beside it)."""
    _, records = smoke_results
    trained = [r for r in records if r["condition"]["method"] in ("finetune", "augmented")]
    assert trained
    for rec in trained:
        t = rec["training"]
        assert rec["compute"]["train_flops"] == t["flops"] > 0
        assert t["loss_tokens"] <= t["tokens"]
    assert any(r["training"]["loss_tokens"] < r["training"]["tokens"] for r in trained)  # so the two counts differ
