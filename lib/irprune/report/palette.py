"""One visual style per method and one display name per model, shared by every figure and table.

Colours are the Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"; Wong 2011, "Points of view:
Color blindness", Nature Methods 8:441), safe for the common colour-vision deficiencies.  It has eight colours
and the study has more methods, so every method also has its own marker and line style: no two methods share the
(colour, marker, dash) triple, and a figure stays readable in greyscale.  Reference lines: dense = black solid,
BM25 = grey dotted.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..registry import Registry

#: Okabe-Ito colours by name.
OKABE_ITO: dict[str, str] = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}
GREY = "#7F7F7F"


@dataclass(frozen=True)
class MethodStyle:
    """How a method is drawn and named: ``label`` in legends/tables, ``macro`` (letters only) in LaTeX names."""

    label: str
    macro: str
    color: str
    marker: str
    linestyle: str


_C = OKABE_ITO
_STYLES: dict[str, MethodStyle] = {
    # references
    "dense": MethodStyle("Dense", "Dense", _C["black"], "", "-"),
    "bm25": MethodStyle("BM25", "BmTwentyFive", GREY, "", ":"),
    # pruning methods (irprune.pruning.registry.METHODS, plus the paper's name for IMP)
    "gmp": MethodStyle("GMP", "Gmp", _C["vermillion"], "o", "-"),
    "magnitude": MethodStyle("Magnitude (one-shot)", "Magnitude", _C["blue"], "s", "-"),
    "random": MethodStyle("Random", "Random", GREY, "x", "--"),
    "shuffled": MethodStyle("Shuffled mask", "Shuffled", _C["black"], "+", "--"),
    # the layer-wise shuffled controls of the data-driven methods (Frankle et al. 2021): the method's colour, dotted
    "shuffled-snip": MethodStyle("SNIP, shuffled", "ShuffledSnip", _C["sky_blue"], "1", ":"),
    "shuffled-grasp": MethodStyle("GraSP, shuffled", "ShuffledGrasp", _C["bluish_green"], "2", ":"),
    "shuffled-synflow": MethodStyle("SynFlow, shuffled", "ShuffledSynflow", _C["reddish_purple"], "3", ":"),
    "snip": MethodStyle("SNIP", "Snip", _C["sky_blue"], "^", "-."),
    "grasp": MethodStyle("GraSP", "Grasp", _C["bluish_green"], "v", "-."),
    "synflow": MethodStyle("SynFlow", "Synflow", _C["reddish_purple"], "D", "-."),
    "imp": MethodStyle("IMP (lottery ticket)", "Imp", _C["orange"], "P", "-"),
    "lottery": MethodStyle("Lottery ticket", "Lottery", _C["orange"], "*", "--"),
    "movement": MethodStyle("Movement", "Movement", _C["reddish_purple"], "h", "-"),
    "sap": MethodStyle("SAP (PQ Index)", "Sap", _C["bluish_green"], "p", "-"),
    "heads": MethodStyle("Head pruning", "Heads", _C["yellow"], "X", "-"),
    "structured": MethodStyle("Heads + FFN neurons removed", "Structured", _C["yellow"], "d", "--"),
    # index compression of the dense bi-encoder (irprune.dense): product quantization, OPQ (Ge et al. 2014), and JPQ
    # (Zhan et al. 2021)
    "pq": MethodStyle("PQ (index)", "Pq", _C["sky_blue"], "d", "--"),
    "opq": MethodStyle("OPQ (index)", "Opq", _C["bluish_green"], "s", "--"),
    "jpq": MethodStyle("JPQ (index)", "Jpq", _C["blue"], "8", "--"),
}
METHOD_STYLES: Registry[MethodStyle] = Registry("method")
for _name, _style in _STYLES.items():
    METHOD_STYLES.add(_name, _style)
#: Display order of methods: references first, then as declared above.
METHOD_ORDER: tuple[str, ...] = tuple(_STYLES)

#: "Methods" that prune nothing, skipped by every sparsity analysis: the references (dense, BM25; drawn as
#: horizontal lines, never as pruning curves) and index compression of the dense bi-encoder (PQ, OPQ, JPQ; drawn
#: by irprune.report.dense against their compression factor).
REFERENCE_METHODS = ("dense", "bm25", "pq", "opq", "jpq")


@dataclass(frozen=True)
class ModelInfo:
    """Display name, LaTeX macro stem (letters only) and, where lines are models of one method, the line style."""

    label: str
    macro: str
    linestyle: str = "-"
    marker: str = "o"


MODELS: Registry[ModelInfo] = Registry("model")
for _name, _info in {
    "bm25": ModelInfo("BM25", "BmTwentyFive"),
    "monobert": ModelInfo("monoBERT", "Bert", "-", "o"),
    "conv_knrm": ModelInfo("Conv-KNRM", "ConvKnrm", "--", "s"),
    "conformer_kernel": ModelInfo("Conformer-Kernel", "ConformerKernel", "-.", "^"),
    "dsi": ModelInfo("DSI", "Dsi", ":", "D"),
    # the dense bi-encoder (task dense): fine-tuned query encoder, and the checkpoint as released
    "biencoder": ModelInfo("Bi-encoder", "Biencoder", "-", "o"),
    "biencoder-zeroshot": ModelInfo("Bi-encoder (zero-shot)", "BiencoderZeroshot", ":", "o"),
    # cross-task models (classification / translation rows)
    "embedding_bag": ModelInfo("EmbeddingBag", "EmbeddingBag"),
    "textcnn": ModelInfo("TextCNN", "TextCnn"),
    "lstm": ModelInfo("LSTM", "Lstm"),
    "transformer": ModelInfo("Transformer", "Transformer"),
    "seq2seq": ModelInfo("Seq2Seq", "SeqToSeq"),
    # vision models (image classification rows)
    "lenet": ModelInfo("LeNet-5", "LeNet"),
    "resnet20": ModelInfo("ResNet-20", "ResNetTwenty"),
}.items():
    MODELS.add(_name, _info)

#: Inference engines (irprune.costs.engines), drawn as lines of the measured-latency figure; the reference (torch
#: fp32) is black like dense.  Engines with no entry are drawn like an unknown method, under their own name.
ENGINE_STYLES: dict[str, MethodStyle] = {
    "torch": MethodStyle("torch fp32", "Torch", _C["black"], "o", "-"),
    "torch-csr": MethodStyle("torch CSR", "TorchCsr", GREY, "x", "--"),
    "onnxruntime": MethodStyle("ONNX Runtime", "OnnxRuntime", _C["blue"], "s", "-"),
    "onnxruntime-int8": MethodStyle("ONNX Runtime int8", "OnnxRuntimeInt", _C["sky_blue"], "s", ":"),
    "openvino": MethodStyle("OpenVINO", "OpenVino", _C["vermillion"], "^", "-"),
    "openvino-bf16": MethodStyle("OpenVINO bf16", "OpenVinoBf", _C["orange"], "^", "-."),
    "openvino-int8": MethodStyle("OpenVINO int8", "OpenVinoInt", _C["reddish_purple"], "^", ":"),
    "deepsparse": MethodStyle("DeepSparse", "DeepSparse", _C["bluish_green"], "D", "-"),
}


def engine_style(engine: str) -> MethodStyle:
    return ENGINE_STYLES.get(engine) or MethodStyle(engine, _macro_stem(engine, "Engine"), DEFAULT_COLOR, ".", "-")


#: The neural rankers of the study, in display order (a model with no rows is reported as "not run").
STUDY_MODELS = ("monobert", "conv_knrm", "conformer_kernel")


def _macro_stem(name: str, default: str) -> str:
    """Letters only, each word capitalised (``"my-method2"`` -> ``"MyMethod"``): a LaTeX macro stem."""
    return "".join(w.capitalize() for w in "".join(c if c.isalpha() else " " for c in name).split()) or default


#: How a method with no entry above is drawn: dark grey, a dot marker, a solid line, named by itself.
DEFAULT_COLOR = "#444444"


def method_style(method: str) -> MethodStyle:
    """The style of ``method``; a method with no entry here (a new one) is drawn in :data:`DEFAULT_COLOR` with a
    dot marker, labelled with its own name and with a macro stem made of its letters."""
    if method in METHOD_STYLES:
        return METHOD_STYLES.get(method)
    return MethodStyle(method, _macro_stem(method, "Method"), DEFAULT_COLOR, ".", "-")


def model_label(model: str) -> str:
    return MODELS.get(model).label if model in MODELS else model


def model_info(model: str) -> ModelInfo:
    """Display info of ``model``; a model not registered here is shown under its own name."""
    return MODELS.get(model) if model in MODELS else ModelInfo(model, _macro_stem(model, "Model"))


def method_label(method: str) -> str:
    return method_style(method).label


def model_order(models: list[str] | set[str]) -> list[str]:
    """Models in display order: the study's rankers first, then the rest alphabetically."""
    known = [m for m in STUDY_MODELS if m in models]
    return known + sorted(m for m in models if m not in STUDY_MODELS)


def method_order(methods: list[str] | set[str]) -> list[str]:
    """Methods in registry declaration order (references first), unknown ones last."""
    return [m for m in METHOD_ORDER if m in methods] + sorted(m for m in methods if m not in METHOD_ORDER)
