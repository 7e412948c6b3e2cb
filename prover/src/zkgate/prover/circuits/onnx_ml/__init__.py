"""ONNX-ML models (scikit-learn via skl2onnx) rewritten as standard ONNX for ezkl, and checked
against the original on the calibration data: conversion.py, agreement.py."""
