"""The words the agent sends to the model, one module per state that asks something.

Short on purpose: at ~25 prompt tokens per second on the offline model, every line costs. The stable part (role,
schema, instructions, dates) comes first so the model server's prefix cache reuses it from one request to the next;
no "think step by step" (it makes models this small worse: ../../shared notes, CodeLlama-7B BIRD 23.2 -> 12.0).
"""
