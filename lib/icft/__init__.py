"""icft: in-context learning vs fine-tuning, a reproduction of Lampinen et al. 2025 with open models.

The library is thin on purpose: each module holds one piece of the experiments.

- `icft.models`   model names -> (model, tokenizer); the embedded GGUF weights, cached as safetensors
- `icft.scoring`  multiple-choice log-likelihood scoring with a shared-prefix key/value cache
- `icft.records`  the records that cross module lines (documents, questions)
- `icft.icl`      in-context learning: the training documents in the context
- `icft.finetune` the fine-tuning loop (LoRA or full, accelerate, sentence splitting)
- `icft.experiment` one condition -> one results record (`icft run`)
- `icft.datasets` the paper's data sets: generators, the Berglund et al. loader, build/load of data folders
- `icft.words`    nonsense words (pronounceable, not English, prefix-free)
- `icft.logic`    a set-model checker for syllogisms (All/Some/No)
"""

__version__ = "0.1.0"
