"""Running a .tflite file: the TFLite runners (Interpreter, tf.lite, CompiledModel), the
file's app contract (its signatures), and latency measurement.
"""
