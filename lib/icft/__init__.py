"""icft: in-context learning vs fine-tuning, a reproduction of Lampinen et al. 2025 with open models.

The library is thin on purpose: each module holds one piece of the experiments.

- `icft.models`   model names -> (model, tokenizer); the embedded GGUF weights, cached as safetensors
- `icft.scoring`  multiple-choice log-likelihood scoring with a shared-prefix key/value cache
- `icft.records`  the records that cross module lines (documents, questions)
"""

__version__ = "0.1.0"
