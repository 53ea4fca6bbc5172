"""spaneval: pretrain SpanBERT and BERT baselines, fine-tune and evaluate them side by side on span tasks."""

__version__ = "0.1.0"
