"""Simulating the process you run: a discrete-event executor of compiled definitions on SimPy.

No Temporal: every step kind has simulation semantics that mirror the durable engine
(`workflows/engine/steps/`), and the engine's pure rules (judgement, release refusal, derived
status, product computations) are called, not copied.
"""
