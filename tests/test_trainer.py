"""Self-training, evaluation, inference and the train/evaluate verbs, on a tiny random BERT."""

import json

import datasets
import pytest
import torch

from gener.errors import GenerError
from tests.tiny_models import save_tiny_bert
from trainers import data as tdata
from trainers.evaluation import METRIC_PATH, evaluate_model, score_tags
from trainers.hub_pipeline import apply_rules, common_words
from trainers.inference import Tagger, bio_spans, predict_words, split_words
from trainers.self_training import TrainConfig, self_training_loss, soft_labels, train

NAMES = ["O", "B-Disease", "I-Disease", "B-LOC", "I-LOC"]
WORDS = ["cystic", "fibrosis", "is", "common", "in", "ireland", "and", "france", "."]


def make_dataset(n=24, names=NAMES):
    """Sentences like 'cystic fibrosis is common in ireland .' with tags."""
    features = datasets.Features({"tokens": datasets.List(datasets.Value("string")),
                                  "ner_tags": datasets.List(datasets.ClassLabel(names=names))})
    rows = {"tokens": [], "ner_tags": []}
    index = {n: i for i, n in enumerate(names)}
    for i in range(n):
        tokens = ["cystic", "fibrosis", "is", "common", "in", "ireland"] + ["."] * (i % 5)
        tags = ["B-Disease", "I-Disease", "O", "O", "O", "B-LOC"] + ["O"] * (i % 5)
        rows["tokens"].append(tokens)
        rows["ner_tags"].append([index.get(t, 0) for t in tags])
    return datasets.Dataset.from_dict(rows, features=features)


@pytest.fixture(scope="package")
def tiny_model(tmp_path_factory):
    """A 2-layer, 32-wide random BERT with the MiniLM tokenizer, saved to a folder."""
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


def quick_config(**overrides):
    values = dict(t_early=4, t_update=2, max_steps=8, eval_every=4, batch_size=8,
                  learning_rate=1e-3, confidence_threshold=0.0, max_length=32, progress=False)
    return TrainConfig(**{**values, **overrides})


# --- data ------------------------------------------------------------------------------------

def test_plan_windows_cover_every_word_within_budget():
    counts = [1, 3, 2, 1, 1, 4, 1, 2, 1, 1]
    for stride in (0, 2, 3):
        windows = tdata.plan_windows(counts, budget=5, stride=stride)
        covered = set()
        for start, end in windows:
            assert end > start and sum(counts[start:end]) <= 5
            covered.update(range(start, end))
        assert covered == set(range(len(counts)))
        if stride == 0:
            assert [w[1] for w in windows[:-1]] == [w[0] for w in windows[1:]]
    assert tdata.plan_windows([9, 1], budget=4) == [(0, 1), (1, 2)]  # an overlong word alone


def test_encode_windows_keeps_every_word(tiny_model):
    tokenizer = tdata.load_tokenizer(tiny_model)
    sentences = [WORDS * 10, ["x" * 200], [], ["hello"]]
    windows = tdata.encode_windows(tokenizer, sentences, max_length=16, stride=4)
    for window in windows:
        assert len(window.input_ids) <= 16
    seen = {(w.sentence, w.start + i) for w in windows for i, p in enumerate(w.positions) if p >= 0}
    assert seen == {(s, i) for s, words in enumerate(sentences) for i in range(len(words))}


def test_training_examples_label_first_subtokens_only(tiny_model):
    tokenizer = tdata.load_tokenizer(tiny_model)
    examples = tdata.encode_training_examples(make_dataset(3), tokenizer, max_length=64)
    first = examples[0]
    tokens = tokenizer.convert_ids_to_tokens(first["input_ids"])
    labelled = [(t, NAMES[label]) for t, label in zip(tokens, first["labels"], strict=True)
                if label != tdata.IGNORE]
    assert [t for t, _ in labelled][2:] == ["is", "common", "in", "ireland"]
    assert [label for _, label in labelled] == ["B-Disease", "I-Disease", "O", "O", "O", "B-LOC"]
    assert tokens[0] == "[CLS]" and first["labels"][0] == tdata.IGNORE


def test_length_grouped_batches_are_a_deterministic_partition():
    lengths = [(i * 37) % 101 for i in range(250)]
    sampler = tdata.LengthGroupedBatches(lengths, batch_size=16, seed=3, mega_batch=8)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(250))
    assert len(batches) == len(sampler) == 16
    assert batches == list(sampler)
    sampler.set_epoch(1)
    assert batches != list(sampler)
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    assert padded < 1.2 * sum(lengths)  # random batches would pad to about 1.9x


def test_pad_collator_pads_dynamically():
    batch = tdata.PadCollator(0)([{"input_ids": [5, 6, 7], "labels": [-100, 1, -100]},
                                  {"input_ids": [5], "labels": [-100]}])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [5, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 1, -100], [-100, -100, -100]]


def test_load_training_dataset_formats(tmp_path):
    ds = make_dataset(5)
    ds.save_to_disk(str(tmp_path / "disk"))
    (tmp_path / "pq").mkdir()
    ds.to_parquet(str(tmp_path / "pq" / "train-0.parquet"))
    from gener.dataset import write_config

    write_config(tmp_path / "hub", "demo", ds, {"recipe": "demo", "version": "v1"})
    for path, config in ((tmp_path / "disk", None), (tmp_path / "pq", None),
                         (tmp_path / "pq" / "train-0.parquet", None), (tmp_path / "hub", "demo")):
        loaded = tdata.load_training_dataset(path, config)
        assert tdata.label_names(loaded) == NAMES and len(loaded) == 5
    assert tdata.read_manifest(tmp_path / "hub", "demo")["version"] == "v1"
    with pytest.raises(GenerError, match="not found"):
        tdata.load_training_dataset(tmp_path / "missing")
    plain = datasets.Dataset.from_dict({"tokens": [["a"]], "ner_tags": [[0]]})
    plain.save_to_disk(str(tmp_path / "plain"))
    with pytest.raises(GenerError, match="ClassLabel"):
        tdata.load_training_dataset(tmp_path / "plain")


# --- losses and metrics ----------------------------------------------------------------------

def test_soft_labels_follow_bond():
    p = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    q = soft_labels(p)
    expected = p ** 2 / p.sum(0)
    expected = expected / expected.sum(1, keepdim=True)
    assert torch.allclose(q, expected) and torch.allclose(q.sum(1), torch.ones(3))


def test_self_training_loss_is_kl_on_confident_tokens():
    torch.manual_seed(0)
    student = torch.randn(2, 4, 3, requires_grad=True)
    teacher = torch.randn(2, 4, 3) * 3
    mask = torch.tensor([[False, True, True, True], [False, True, True, False]])
    loss, kept = self_training_loss(student, teacher, mask, threshold=0.0)
    q = soft_labels(teacher[mask].softmax(-1))
    log_s = student[mask].log_softmax(-1)
    manual = (q * (q.log() - log_s)).sum() / mask.sum()
    assert torch.allclose(loss, manual) and kept == 1.0 and loss >= 0
    none, kept = self_training_loss(student, teacher, mask, threshold=0.999999)
    assert kept == 0.0 and none.item() == 0.0
    none.backward()  # still a graph over the logits, as DDP needs
    assert student.grad is not None


def test_seqeval_module_loads_offline():
    import evaluate

    metric = evaluate.load(str(METRIC_PATH / "seqeval_local.py"))
    scores = metric.compute(predictions=[["B-PER", "I-PER", "O", "B-LOC"]],
                            references=[["B-PER", "I-PER", "O", "O"]])
    assert scores["overall_precision"] == 0.5 and scores["overall_recall"] == 1.0
    assert scores["PER"]["f1"] == 1.0 and scores["PER"]["number"] == 1


def test_score_tags_matches_types_by_name():
    gold = [["B-Disease", "I-Disease", "O", "B-Chemical"], ["B-Disease", "O", "O", "O"]]
    pred = [["B-Disease", "I-Disease", "B-LOC", "O"], ["O", "O", "O", "O"]]
    scores = score_tags(pred, gold, model_types=["disease", "LOC"])
    assert scores["ignored_gold_types"] == ["Chemical"]
    assert scores["ignored_predicted_types"] == ["LOC"]
    assert scores["precision"] == 1.0 and scores["recall"] == 0.5
    assert set(scores["per_type"]) == {"Disease"} and scores["per_type"]["Disease"]["support"] == 2


# --- inference -------------------------------------------------------------------------------

class KeywordModel(torch.nn.Module):
    """Predicts B-Disease for one token id, I-Disease for another, O elsewhere."""

    def __init__(self, b_id, i_id):
        super().__init__()
        self.b_id, self.i_id = b_id, i_id
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.config = type("Config", (), {"num_labels": 3,
                                          "id2label": dict(enumerate(NAMES[:3]))})()

    def forward(self, input_ids, attention_mask):
        logits = torch.zeros(*input_ids.shape, 3)
        logits[..., 0] = 1
        logits[..., 1] += 5 * (input_ids == self.b_id)
        logits[..., 2] += 5 * (input_ids == self.i_id)
        return type("Out", (), {"logits": logits})


def test_sliding_window_tags_long_documents_without_truncation(tiny_model):
    tokenizer = tdata.load_tokenizer(tiny_model)
    b_id, i_id = tokenizer.convert_tokens_to_ids(["heart", "disease"])
    words = (["the", "patient", "had", "heart", "disease", "."] * 40)
    ids, scores = predict_words(KeywordModel(b_id, i_id), tokenizer, [words], max_length=12,
                                stride=4)
    tags = [NAMES[i] for i in ids[0]]
    assert len(tags) == len(words)
    assert bio_spans(tags) == [("Disease", i + 3, i + 5) for i in range(0, len(words), 6)]
    assert all(0 < s <= 1 for s in scores[0])


def labelled_tiny_model(folder, o_bias=0.0):
    """The tiny BERT with a random head over NAMES, the O bias folded in, saved to ``folder``."""
    from transformers import AutoModelForTokenClassification

    from trainers.calibration import fold_o_bias

    torch.manual_seed(1)
    model = AutoModelForTokenClassification.from_pretrained(
        folder.parent / "tiny-base", num_labels=len(NAMES), id2label=dict(enumerate(NAMES)),
        label2id={n: i for i, n in enumerate(NAMES)}, ignore_mismatched_sizes=True).eval()
    with torch.no_grad():  # labels that vary from word to word
        model.classifier.weight.normal_(0, 1, generator=torch.Generator().manual_seed(3))
    fold_o_bias(model, o_bias)
    model.save_pretrained(folder)
    tdata.load_tokenizer(str(folder.parent / "tiny-base")).save_pretrained(folder)
    return model


def test_folding_the_o_bias_chooses_as_adding_it_to_o_log_probability(tmp_path):
    from trainers.calibration import fold_o_bias, label_bias

    save_tiny_bert(tmp_path / "tiny-base")
    model = labelled_tiny_model(tmp_path / "plain")
    ids = torch.randint(1000, 30000, (6, 24), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        log_probs = model(input_ids=ids).logits.log_softmax(-1).numpy()
    chosen = set()
    for o_bias in (-6.0, 0.0, 3.0, 6.0):
        expected = (log_probs + label_bias(model.config.id2label, o_bias)).argmax(-1)
        fold_o_bias(model, o_bias)
        with torch.no_grad():
            folded = model(input_ids=ids).logits.argmax(-1).numpy()
        fold_o_bias(model, -o_bias)
        assert (folded == expected).all()
        chosen.add(tuple(expected.ravel()))
    assert len(chosen) == 4  # each bias changes some words' labels
    with pytest.raises(GenerError, match="no linear classifier"):
        fold_o_bias(KeywordModel(1, 2), 1.0)


def test_tagger_gives_what_the_pipeline_gives_with_first_aggregation(tmp_path):
    from transformers import pipeline

    save_tiny_bert(tmp_path / "tiny-base")
    labelled_tiny_model(tmp_path / "model", o_bias=5.0)  # some words O
    tagger = Tagger(tmp_path / "model")
    hub = pipeline("token-classification", model=str(tmp_path / "model"),
                   aggregation_strategy="first")
    texts = ["Wiskott-Aldrich syndrome and haloperidol, in Mr. Fischler's U.S. foo_bar €5 café.",
             "Cystic fibrosis is common in Ireland and France (2024): 1 in 2,500 births.", ""]
    found = []
    for text in texts:
        ours = tagger.tag(text)
        theirs = hub(text)
        assert [(e.label, e.start, e.end) for e in ours] == [
            (e["entity_group"], e["start"], e["end"]) for e in theirs]
        assert [e.score for e in ours] == pytest.approx([float(e["score"]) for e in theirs],
                                                        abs=1e-5)
        found += [e.text for e in ours]
    assert len(found) > 5 and any(" " in text for text in found)  # spans of several words
    words = [t.split() for t in ("cystic fibrosis is common in ireland", "aniridia in france")]
    for row, tags, found in zip(words, tagger.tag_words(words),
                                hub(words, is_split_into_words=True), strict=True):
        hub_spans = [(e["entity_group"], e["start"], e["end"]) for e in found]
        starts = [sum(len(w) + 1 for w in row[:i]) for i in range(len(row))]
        assert [(kind, starts[a], starts[b - 1] + len(row[b - 1]))
                for kind, a, b in bio_spans(tags)] == hub_spans


def test_calibration_chooses_the_o_bias_with_the_best_validation_f1(tiny_model):
    from trainers.calibration import choose_o_bias

    tokenizer = tdata.load_tokenizer(tiny_model)
    b_id, i_id = tokenizer.convert_tokens_to_ids(["heart", "disease"])
    sentences = [["the", "heart", "disease", "spread"], ["nothing", "here"]]
    gold = [["O", "B-Disease", "I-Disease", "O"], ["O", "O"]]
    o_bias, table = choose_o_bias(KeywordModel(b_id, i_id), tokenizer, sentences, gold,
                                  grid=(-5.0, 0.0, 5.0))
    assert [row["o_bias"] for row in table] == [-5.0, 0.0, 5.0]
    assert o_bias == 0.0 and table[1]["f1"] == 1.0  # -5 tags every word, 5 none
    assert table[0]["precision"] < 1 and table[2]["recall"] == 0


def test_bio_spans_and_split_words():
    assert bio_spans(["B-A", "I-A", "I-B", "O", "I-A", "B-A"]) == [
        ("A", 0, 2), ("B", 2, 3), ("A", 4, 5), ("A", 5, 6)]
    assert split_words("Hi, you.") == [("Hi", 0, 2), (",", 2, 3), ("you", 4, 7), (".", 7, 8)]


def test_the_shipped_pipeline_reads_entities_as_bio_spans_does():
    import itertools

    from trainers.hub_pipeline import entity_spans

    tags = ["O", "B-A", "I-A", "B-B", "I-B"]
    for length in range(5):
        for sequence in itertools.product(tags, repeat=length):
            assert entity_spans(list(sequence)) == bio_spans(list(sequence))


def test_capital_rule_drops_lowercase_entities_of_the_given_types_only():
    words = ["the", "government", "of", "France", "and", "cystic", "fibrosis"]
    tags = ["O", "B-ORG", "O", "B-LOC", "O", "B-Disease", "I-Disease"]
    assert apply_rules(words, tags, {"ORG", "LOC"}, (), frozenset()) == [
        "O", "O", "O", "B-LOC", "O", "B-Disease", "I-Disease"]
    assert apply_rules(words, tags, (), (), frozenset()) == tags
    assert apply_rules(["bank", "of", "England"], ["B-ORG", "I-ORG", "I-ORG"], {"ORG"}, (),
                       frozenset()) == ["B-ORG", "I-ORG", "I-ORG"]  # one capital keeps it


def test_rule9_drops_one_word_lowercase_common_entities_of_the_given_types(tiny_model):
    from gener.common_words import common_words as gener_common_words

    common = common_words(tdata.load_tokenizer(tiny_model).get_vocab())
    assert common == gener_common_words()  # the MiniLM vocabulary's whole lowercase words
    words = ["a", "mutation", "causes", "aniridia", "and", "missense", "mutation", "in", "Mutation"]
    tags = ["O", "B-Disease", "O", "B-Disease", "O", "B-Disease", "I-Disease", "O", "B-Gene"]
    # "aniridia" is no common word (WordPiece splits it); "missense mutation" has two words
    assert apply_rules(words, tags, (), {"Disease"}, common) == [
        "O", "O", "O", "B-Disease", "O", "B-Disease", "I-Disease", "O", "B-Gene"]
    assert apply_rules(words, tags, (), (), common) == tags
    assert apply_rules(["Mutation"], ["B-Disease"], (), {"Disease"}, common) == ["B-Disease"]


# --- training --------------------------------------------------------------------------------

def test_train_saves_a_loadable_model_with_card(tiny_model, tmp_path):
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    validation = make_dataset(6, names=["O", "B-LOC", "I-LOC", "B-Disease", "I-Disease"])
    result = train(make_dataset(), tmp_path / "model", model_name=tiny_model,
                   validation_dataset=validation, config=quick_config(validation_name="toy"))
    assert result.steps == 8 and result.tokens > 0 and result.best_step in (4, 8)
    log = [json.loads(line) for line in result.log_path.read_text().splitlines()]
    assert [r["step"] for r in log] == [4, 8]
    assert log[0]["stage"] == "supervised" and log[1]["stage"] == "self-training"
    assert all("val_f1" in r for r in log) and log[1]["trained_token_share"] == 1.0
    model = AutoModelForTokenClassification.from_pretrained(result.model_dir)
    assert model.config.id2label[1] == "B-Disease" and model.config.label2id["I-LOC"] == 4
    AutoTokenizer.from_pretrained(result.model_dir)
    card = (result.model_dir / "README.md").read_text()
    assert "model-index" in card and "t_early" in card and "best validation F1" in card
    assert not (result.model_dir / "checkpoints").exists()
    tagger = pipeline("token-classification", model=str(result.model_dir),
                      aggregation_strategy="simple")
    assert isinstance(tagger("cystic fibrosis is common in ireland"), list)
    scores = evaluate_model(result.model_dir, validation)
    assert set(scores["per_type"]) == {"Disease", "LOC"} and 0 <= scores["f1"] <= 1
    entities = Tagger(result.model_dir, max_length=16).tag("cystic fibrosis in ireland. " * 30)
    assert all(e.text == ("cystic fibrosis in ireland. " * 30)[e.start:e.end] for e in entities)


def test_capitalized_types_travel_with_the_model_and_filter_its_predictions(tiny_model,
                                                                              tmp_path):
    validation = make_dataset(6)
    result = train(make_dataset(), tmp_path / "model", model_name=tiny_model,
                   validation_dataset=validation,
                   config=quick_config(validation_name="toy", capitalized_types=["LOC"]))
    tagger = Tagger(result.model_dir)
    assert tagger.capitalized == {"LOC"}
    lowercase = [list(t) for t in validation["tokens"]]
    assert not any(tag.endswith("-LOC") for row in tagger.tag_words(lowercase) for tag in row)
    assert all(e.label != "LOC" for e in tagger.tag("cystic fibrosis is common in ireland"))
    tagger.capitalized = frozenset()  # the same model without the rule does tag LOC
    assert any(tag.endswith("-LOC") for row in tagger.tag_words(lowercase) for tag in row)
    assert "capital letter" in (result.model_dir / "README.md").read_text()
    assert tagger.rule9 == frozenset()
    with pytest.raises(GenerError, match="not labels of the dataset"):
        train(make_dataset(), tmp_path / "m2", model_name=tiny_model,
              config=quick_config(capitalized_types=["PER"]))


def test_rule9_types_travel_with_the_model_and_filter_its_predictions(tiny_model, tmp_path):
    from gener.common_words import common_words

    assert "ireland" in common_words()
    result = train(make_dataset(), tmp_path / "model", model_name=tiny_model,
                   config=quick_config(rule9_types=["LOC"]))
    tagger = Tagger(result.model_dir)
    assert tagger.rule9 == {"LOC"} and tagger.capitalized == frozenset()
    words = [list(t) for t in make_dataset(6)["tokens"]]
    ruled = tagger.tag_words(words)
    tagger.rule9 = frozenset()  # the same model without the rule tags "ireland"
    plain = tagger.tag_words(words)
    assert all(row[5] == "B-LOC" for row in plain) and all(row[5] == "O" for row in ruled)
    assert ruled == [apply_rules(w, p, (), {"LOC"}, tagger.common)
                     for w, p in zip(words, plain, strict=True)]
    assert "common word" in (result.model_dir / "README.md").read_text()
    with pytest.raises(GenerError, match="rule 9 types"):
        train(make_dataset(), tmp_path / "m2", model_name=tiny_model,
              config=quick_config(rule9_types=["PER"]))


def test_the_shipped_pipeline_applies_the_rules_as_tagger_does(tiny_model, tmp_path):
    from transformers import pipeline
    from transformers.pipelines import TokenClassificationPipeline

    result = train(make_dataset(), tmp_path / "model", model_name=tiny_model,
                   config=quick_config(capitalized_types=["LOC"], rule9_types=["Disease"]))
    folder = str(result.model_dir)
    assert (result.model_dir / "gener_pipeline.py").exists()
    tagger = Tagger(folder)
    shipped = pipeline(model=folder, trust_remote_code=True, aggregation_strategy="first")
    plain = pipeline("token-classification", model=folder, aggregation_strategy="first")
    assert type(plain) is TokenClassificationPipeline and type(shipped) is not type(plain)
    texts = ["Cystic fibrosis is common in Ireland.", "cystic fibrosis is common in ireland",
             "Fibrosis in ireland and France; fibrosis, Ireland."]
    dropped = 0
    for text in texts:
        ours = [(e.label, e.start, e.end) for e in tagger.tag(text)]
        assert ours == [(e["entity_group"], e["start"], e["end"]) for e in shipped(text)]
        dropped += len(plain(text)) - len(ours)
    assert dropped > 0  # the rules removed entities that the plain pipeline keeps
    # A model trained from it without rules ships no pipeline.
    again = train(make_dataset(), tmp_path / "again", model_name=folder, config=quick_config())
    assert not (again.model_dir / "gener_pipeline.py").exists()
    assert "gener-token-classification" not in (again.model_dir / "config.json").read_text()


def test_train_without_validation_keeps_the_last_student(tiny_model, tmp_path):
    result = train(make_dataset(8), tmp_path / "m", model_name=tiny_model,
                   config=quick_config(max_steps=3, eval_every=10, t_early=0))
    assert result.best_f1 is None and result.steps == 3
    assert result.history[-1]["stage"] == "self-training"  # t_early = 0: from the first step
    assert "no validation set" in (result.model_dir / "README.md").read_text()


def test_train_resumes_from_a_checkpoint(tiny_model, tmp_path, monkeypatch):
    from transformers import AutoModelForTokenClassification

    from trainers import self_training

    straight = train(make_dataset(), tmp_path / "straight", model_name=tiny_model,
                     config=quick_config(eval_every=2))
    original = self_training._Run.save_checkpoint

    def interrupt_after_step_4(run):
        original(run)
        if run.state["step"] == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(self_training._Run, "save_checkpoint", interrupt_after_step_4)
    with pytest.raises(KeyboardInterrupt):
        train(make_dataset(), tmp_path / "resumed", model_name=tiny_model,
              config=quick_config(eval_every=2))
    monkeypatch.setattr(self_training._Run, "save_checkpoint", original)
    assert (tmp_path / "resumed" / "checkpoints" / "last" / "teacher.safetensors").exists()
    resumed = train(make_dataset(), tmp_path / "resumed", model_name=tiny_model,
                    config=quick_config(eval_every=2, resume=True))
    steps = [json.loads(x)["step"] for x in resumed.log_path.read_text().splitlines()]
    assert steps == [2, 4, 6, 8]
    assert resumed.tokens == straight.tokens
    a = AutoModelForTokenClassification.from_pretrained(straight.model_dir).state_dict()
    b = AutoModelForTokenClassification.from_pretrained(resumed.model_dir).state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_train_with_bf16_and_gradient_accumulation(tiny_model, tmp_path):
    result = train(make_dataset(16), tmp_path / "m", model_name=tiny_model,
                   config=quick_config(mixed_precision="bf16", grad_accum=2, max_steps=2,
                                       t_early=1, t_update=1, eval_every=2))
    assert result.steps == 2
    examples = tdata.encode_training_examples(make_dataset(16), tdata.load_tokenizer(tiny_model),
                                              max_length=32)
    assert result.tokens == 2 * sum(len(e["input_ids"]) for e in examples)  # 2 x 2 x 8 = 32
    config = json.loads((result.model_dir / "gener_training.json").read_text())["config"]
    assert config["mixed_precision"] == "bf16" and config["grad_accum"] == 2


def test_train_rejects_bad_input(tiny_model, tmp_path):
    with pytest.raises(GenerError, match="positive"):
        train(make_dataset(), tmp_path, model_name=tiny_model, config=quick_config(max_steps=0))
    bad = make_dataset(2, names=["O", "Disease", "I-Disease", "B-LOC", "I-LOC"])
    with pytest.raises(GenerError, match="O, B-X or I-X"):
        train(bad, tmp_path, model_name=tiny_model, config=quick_config())
    with pytest.raises(GenerError, match="no entity labels"):
        train(make_dataset(2, names=["O"]), tmp_path, model_name=tiny_model,
              config=quick_config())
    with pytest.raises(GenerError, match="empty"):
        train(make_dataset().select([]), tmp_path, model_name=tiny_model, config=quick_config())


def test_calibrate_folds_the_chosen_o_bias_into_the_weights(tiny_model, tmp_path):
    from trainers.calibration import O_BIAS_GRID

    validation = make_dataset(6)
    result = train(make_dataset(), tmp_path / "model", model_name=tiny_model,
                   validation_dataset=validation,
                   config=quick_config(validation_name="toy", calibrate=True))
    info = json.loads((result.model_dir / "gener_training.json").read_text())
    assert [row["o_bias"] for row in info["calibration"]] == list(O_BIAS_GRID)
    best = max(info["calibration"], key=lambda row: (row["f1"], -abs(row["o_bias"])))
    assert info["o_bias"] == best["o_bias"]
    assert "gener_o_bias" not in (result.model_dir / "config.json").read_text()
    assert "bias for O" in (result.model_dir / "README.md").read_text()
    # The saved weights alone give the calibrated validation F1.
    scores = evaluate_model(result.model_dir, validation)
    assert scores["f1"] == pytest.approx(best["f1"], abs=1e-4)


def test_o_weight_scales_o_tags_in_the_supervised_loss(tiny_model, tmp_path):
    for bad in (0.0, -1.0, 1.5):
        with pytest.raises(GenerError, match="o_weight must be in"):
            train(make_dataset(), tmp_path, model_name=tiny_model,
                  config=quick_config(o_weight=bad))
    losses = {}
    for weight in (1.0, 0.25):
        result = train(make_dataset(), tmp_path / str(weight), model_name=tiny_model,
                       config=quick_config(o_weight=weight, t_early=8, eval_every=8))
        losses[weight] = result.history[0]["loss"]
        info = json.loads((result.model_dir / "gener_training.json").read_text())
        assert info["config"]["o_weight"] == weight
    # Same seed, model and batches: only the weighting of the O tags differs.
    assert losses[0.25] != losses[1.0]
    card = (tmp_path / "0.25" / "README.md").read_text()
    assert "o_weight" in card


# --- command line ----------------------------------------------------------------------------

def test_train_and_evaluate_verbs(tiny_model, tmp_path, capsys):
    from gener.cli import main

    make_dataset().to_parquet(str(tmp_path / "train.parquet"))
    bench = tmp_path / "bench" / "ncbi_disease"
    bench.mkdir(parents=True)
    text = "cystic\tB-Disease\nfibrosis\tI-Disease\nis\tO\nrare\tO\n\n"
    for name in ("train", "devel", "test"):
        (bench / f"{name}.tsv").write_text(text * 3)
    out = tmp_path / "model"
    assert main(["train", "--dataset", str(tmp_path / "train.parquet"), "--model", tiny_model,
                 "--out", str(out), "--max-steps", "4", "--t-early", "2", "--t-update", "2",
                 "--eval-every", "2", "--validation", "ncbi_disease", "--benchmarks",
                 str(tmp_path / "bench"), "--batch-size", "8"]) == 0
    assert "best validation F1" in capsys.readouterr().out
    assert main(["evaluate", str(out), "--benchmark", "ncbi_disease", "--benchmarks",
                 str(tmp_path / "bench"), "--json", "--update-card"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert {"precision", "recall", "f1", "per_type"} <= set(scores)
    assert set(scores["per_type"]) == {"Disease"} and scores["ignored_predicted_types"] == ["LOC"]
    assert "split: test" in (out / "README.md").read_text()
    assert main(["evaluate", str(out), "--benchmark", "nope"]) == 1
    assert main(["train", "--dataset", str(tmp_path / "nowhere"), "--out", str(out)]) == 1


DISTRIBUTED_SCRIPT = """
import json, sys
sys.path.insert(0, {root!r})
from accelerate import PartialState
from tests.test_trainer import make_dataset, quick_config
from trainers.self_training import train
result = train(make_dataset(), {out!r}, model_name={model!r}, validation_dataset=make_dataset(5),
               config=quick_config(validation_name="toy"))
state = PartialState()
print("RESULT", json.dumps({{"rank": state.process_index, "world": state.num_processes,
                            "backend": state.backend, "steps": result.steps,
                            "tokens": result.tokens}}))
"""


def test_accelerate_launch_with_two_cpu_processes(tiny_model, tmp_path):
    """`accelerate launch` with 2 processes: DDP over gloo, sharded evaluation, one model."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    script = tmp_path / "run.py"
    script.write_text(DISTRIBUTED_SCRIPT.format(root=root, out=str(tmp_path / "out"),
                                                model=tiny_model))
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
               "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
               "--dynamo_backend", "no", "--main_process_port", "29531", str(script)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stderr[-2000:]
    results = [json.loads(line.split("RESULT", 1)[1]) for line in done.stdout.splitlines()
               if "RESULT" in line]
    assert sorted(r["rank"] for r in results) == [0, 1]
    assert all(r["world"] == 2 and r["backend"] == "gloo" and r["steps"] == 8 for r in results)
    log = [json.loads(x) for x in (tmp_path / "out" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [4, 8] and "val_f1" in log[-1]
    from transformers import AutoModelForTokenClassification

    AutoModelForTokenClassification.from_pretrained(tmp_path / "out")


def test_train_verb_takes_rule_3_and_rule_9_types_from_the_dataset_or_its_recipe():
    from argparse import Namespace

    from gener.commands.train import _types_with_rule

    manifest = {"recipe": "demo", "subquestions": [{"label": "LOC", "rules": [1, 3]},
                                                   {"label": "Disease", "rules": [4, 9]}]}
    plain = Namespace(config=None)
    assert _types_with_rule(plain, manifest, 3, "recipe") == ["LOC"]
    assert _types_with_rule(plain, manifest, 9, "recipe") == ["Disease"]
    assert _types_with_rule(plain, manifest, 3, "off") == []
    assert _types_with_rule(Namespace(config="conll2003"), {}, 3, "recipe") == [
        "PER", "LOC", "ORG"]
    assert _types_with_rule(Namespace(config="ncbi_disease"), {}, 9, "recipe") == ["Disease"]
    assert _types_with_rule(Namespace(config="no_such"), {}, 3, "recipe") == []


def test_tag_weights_balance_rare_labels_and_keep_the_o_weight():
    from trainers.self_training import tag_weights

    names = ["O", "B-LOC", "I-LOC", "B-Disease", "I-Disease"]
    examples = [{"input_ids": [0] * 6, "labels": [-100, 1, 2, 0, 3, -100]},
                {"input_ids": [0] * 5, "labels": [1, 1, 1, 1, 0]}]  # B-LOC 5, I-LOC 1, B-Disease 1
    weights = tag_weights(examples, names, TrainConfig(o_weight=0.5))
    assert weights == pytest.approx([0.5, 1.0, 5 ** 0.5, 5 ** 0.5, 1.0])  # I-Disease unseen: 1
    assert tag_weights(examples, names, TrainConfig(balance_labels=False)) is None
    many = [{"input_ids": [0] * 300, "labels": [1] * 300}, {"input_ids": [0], "labels": [3]}]
    assert tag_weights(many, names, TrainConfig())[3] == 10.0  # capped
