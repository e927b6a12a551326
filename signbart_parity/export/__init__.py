"""model -> .tflite: conversion per seq_len or one bundle of buckets, quantization recipes,
bundle compaction, and the content-keyed cache of exported files.
"""
