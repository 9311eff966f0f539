"""Text classification: data (AG News CSV / Hugging Face, synthetic topics), models, metrics, task bundle."""

from .data import (AG_NEWS_CLASSES, ClassificationData, ClassificationSplit, from_hf_records, load_ag_news_hf,
                   read_ag_news_csv, stratified_split)
from .metrics import accuracy, confusion, macro_f1
from .models import CLASSIFIERS, EmbeddingBagClassifier, EmbeddingBagConfig, TransformerClassifier, \
    TransformerClassifierConfig
from .synthetic import SyntheticClassificationConfig, TopicModel, bayes_accuracy, make_topic_corpus
from .task import ClassificationTask, ClassificationTaskConfig, load_classification_data

__all__ = ["AG_NEWS_CLASSES", "ClassificationData", "ClassificationSplit", "from_hf_records", "load_ag_news_hf",
           "read_ag_news_csv", "stratified_split", "accuracy", "confusion", "macro_f1", "CLASSIFIERS",
           "EmbeddingBagClassifier", "EmbeddingBagConfig", "TransformerClassifier", "TransformerClassifierConfig",
           "SyntheticClassificationConfig", "TopicModel", "bayes_accuracy", "make_topic_corpus",
           "ClassificationTask", "ClassificationTaskConfig", "load_classification_data"]
