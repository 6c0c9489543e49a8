import pytest

from gener.benchmarks import BENCHMARKS, bio_label_names, load_benchmark, read_sentences, to_bio
from gener.errors import GenerError

# Sentence and mention counts from ../shared/data/SOURCES.md (MISC / other dropped).
EXPECTED = {
    ("conll2003", "train"): (14041, 20061), ("conll2003", "test"): (3453, 4946),
    ("wikigold", "validation"): (280, 523), ("wnut16", "test"): (3850, 2889),
    ("ncbi_disease", "test"): (940, 960), ("bc5cdr", "test"): (4797, 9809),
}


@pytest.mark.parametrize("name, split", sorted(EXPECTED))
def test_benchmark_counts(benchmarks_dir, name, split):
    dataset = load_benchmark(name, split, benchmarks_dir)
    names = dataset.features["ner_tags"].feature.names
    assert names == bio_label_names(BENCHMARKS[name].labels)
    mentions = sum(names[t].startswith("B-") for tags in dataset["ner_tags"] for t in tags)
    assert (len(dataset), mentions) == EXPECTED[(name, split)]


def test_iob1_to_bio():
    assert to_bio(["I-PER", "I-PER", "B-PER", "I-LOC", "I-MISC", "O"], {"PER", "LOC"},
                  iob1=True) == ["B-PER", "I-PER", "B-PER", "B-LOC", "O", "O"]


def test_malformed_lines_name_file_and_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("word\tO\nother\tB-X\n\nbroken line without tab\n")
    with pytest.raises(GenerError, match=r"bad.tsv:4: malformed line"):
        read_sentences(path, "tsv")
    path.write_text("word\tO\nx\tQ-X\n")
    with pytest.raises(GenerError, match=r"bad.tsv:2: malformed tag 'Q-X'"):
        read_sentences(path, "tsv")


def test_unknown_benchmark_split_and_folder(tmp_path):
    with pytest.raises(GenerError, match="unknown benchmark 'x' .*ncbi_disease"):
        load_benchmark("x", "test")
    with pytest.raises(GenerError, match="unknown split 'dev'"):
        load_benchmark("ncbi_disease", "dev", tmp_path)
    with pytest.raises(GenerError, match="benchmarks folder .* not found"):
        load_benchmark("ncbi_disease", "test", tmp_path / "missing")
