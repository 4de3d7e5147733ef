"""Evaluation: ranking metrics over rank tensors (`recai.eval.metrics`), task runners, simulators, judges."""
