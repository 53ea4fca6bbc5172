"""SpanBERT and BERT pretraining: corpus shards, blocks, masking, heads, objectives and the loop."""
