"""lightretriever.components.data: the one data layer — JSONL lines, the document type, BEIR directories.

Training (examples, negatives, `adapt`'s corpus) and pipelines (`index`, `evaluate`, `encode-corpus`)
read the same files, so they read them with the same code. It lives in components because imports run
pipelines -> training -> components and both sides import it (and the store's `StoredDocument` is the
document type); it is stdlib-only (no torch, no engine), so a query server may import it too.
Each module names the error class its caller's layer raises (`error=`), so messages keep their layer.
"""
