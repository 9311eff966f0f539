"""Translation: data (Multi30k via Hugging Face, synthetic grammar), the seq2seq Transformer, decoding, BLEU."""

from .bleu import corpus_bleu
from .data import ParallelData, SeqVocab, load_multi30k_hf, pairs_from_records, tokenize
from .decode import DecodeConfig, beam_decode, greedy_decode, translate
from .model import Seq2SeqConfig, Seq2SeqTransformer, causal_mask
from .synthetic import Grammar, GrammarConfig, make_parallel_corpus
from .task import TRANSLATORS, TranslationTask, TranslationTaskConfig, load_parallel_data

__all__ = ["corpus_bleu", "ParallelData", "SeqVocab", "load_multi30k_hf", "pairs_from_records", "tokenize",
           "DecodeConfig", "beam_decode", "greedy_decode", "translate", "Seq2SeqConfig", "Seq2SeqTransformer",
           "causal_mask", "Grammar", "GrammarConfig", "make_parallel_corpus", "TRANSLATORS", "TranslationTask",
           "TranslationTaskConfig", "load_parallel_data"]
