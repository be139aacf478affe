import time
def test_tiny(tiny_llama_artifact):
    a = tiny_llama_artifact
    print(a.config)
def test_smol(smollm2_artifact):
    t=time.time()
    print(smollm2_artifact.artifact.config.special_tokens, len(smollm2_artifact.table_ids))
