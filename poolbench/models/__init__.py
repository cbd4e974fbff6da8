"""Model zoo: backbones (feature extractors), pooling heads and the classifier that joins them."""

from poolbench.models.classifier import Classifier, build_classifier

__all__ = ["Classifier", "build_classifier"]
