"""Speech models and their adapters: what the trainer fine-tunes and what a teacher runs.

The base models (random or pretrained Whisper and CTC encoders, their codecs and vocabularies),
the adapter kinds (LoRA, rsLoRA, S2-LoRA, bottleneck, full fine-tuning) and the format an adapter
is saved in. It sits below both the trainer, which trains and saves adapters, and the curate
stage's ``ctc:PATH`` teacher, which loads one: neither has to import the other.
"""
