"""icft: in-context learning vs fine-tuning, a reproduction of Lampinen et al. 2025 with open models.

The library is thin on purpose: each module holds one piece of the experiments (the README's Layout
lists them all). The path of a result:

- `icft.plan`       which conditions each notebook runs; `icft.profiles` their settings
- `icft.experiment` one condition -> one results record (`icft run`)
- `icft.datasets`   the paper's data sets: generators, the Berglund et al. loader, data folders
- `icft.models`     model names -> (model, tokenizer); the embedded GGUF weights, cached as safetensors
- `icft.scoring`    multiple-choice log-likelihood scoring with a shared-prefix key/value cache
- `icft.icl`, `icft.finetune`, `icft.augment`   the three methods (options in `icft.options`)
- `icft.analysis`, `icft.claims`, `icft.plots`   records -> tables, verdicts, figures (rows chosen by
  `icft.variants.Variant`, labels made by `icft.labels`)
"""

__version__ = "0.1.0"
